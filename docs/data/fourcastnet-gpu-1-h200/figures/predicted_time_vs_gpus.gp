# predicted_time_vs_gpus.gp - a wattscale report figure: Predicted and measured wall time vs GPUs
# Data: predicted_time_vs_gpus.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' predicted_time_vs_gpus.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "predicted_time_vs_gpus.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "predicted_time_vs_gpus.svg"
}
set title 'Predicted and measured wall time vs GPUs'
set xlabel 'GPUs'
set ylabel 'wall time per run (s)'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
set logscale x 2
set logscale y 10
set style fill transparent solid 0.15 noborder
plot 'predicted_time_vs_gpus.dat' index 0 using 1:2 with points pt 6 ps 1.6 lc 1 title 'gbs (fp32) predicted', \
     'predicted_time_vs_gpus.dat' index 1 using 1:2:3 with yerrorbars pt 7 ps 1.1 lc 1 title 'gbs (fp32) measured'
set output
