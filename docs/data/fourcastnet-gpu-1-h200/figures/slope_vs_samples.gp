# slope_vs_samples.gp - a wattscale report figure: kWh per device-hour vs samples per device-hour
# Data: slope_vs_samples.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' slope_vs_samples.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "slope_vs_samples.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "slope_vs_samples.svg"
}
set title 'kWh per device-hour vs samples per device-hour'
set xlabel 'samples per device-hour'
set ylabel 'kWh per device-hour'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
plot 'slope_vs_samples.dat' index 0 using 1:2 with points pt 7 ps 1.2 title 'runs', \
     'slope_vs_samples.dat' index 1 using 1:2 with lines lw 2 title 'fit, R^2 0.018'
set output
