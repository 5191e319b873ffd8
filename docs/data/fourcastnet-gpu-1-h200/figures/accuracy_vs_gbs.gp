# accuracy_vs_gbs.gp - a wattscale report figure: Predictive metric vs global batch size
# Data: accuracy_vs_gbs.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' accuracy_vs_gbs.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "accuracy_vs_gbs.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "accuracy_vs_gbs.svg"
}
set title 'Predictive metric vs global batch size'
set xlabel 'global batch size (GBS)'
set ylabel 'val_rmse_norm (final evaluation)'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
set logscale x 2
set arrow from 16, graph 0 to 16, graph 1 nohead dt 2 lc rgb 'red'
set label 'degrades beyond GBS 16' at 16, graph 0.05 offset 0.5,0 tc rgb 'red'
plot 'accuracy_vs_gbs.dat' index 0 using 1:2:3 with yerrorlines lw 2 pt 7 title 'val_rmse_norm'
set output
