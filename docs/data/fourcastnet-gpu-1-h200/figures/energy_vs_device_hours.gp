# energy_vs_device_hours.gp - a wattscale report figure: Energy vs device-hours
# Data: energy_vs_device_hours.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' energy_vs_device_hours.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "energy_vs_device_hours.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "energy_vs_device_hours.svg"
}
set title 'Energy vs device-hours'
set xlabel 'GPU-hours per run'
set ylabel 'energy per run (kWh)'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
set xrange [0:*]
set yrange [0:*]
set style fill transparent solid 0.2 noborder
plot 'energy_vs_device_hours.dat' index 0 using 1:2 with points pt 7 ps 1.2 lc 1 title 'afno / NVIDIA H200 / fp32', \
     'energy_vs_device_hours.dat' index 1 using 1:3:4 with filledcurves lc 1 notitle, \
     'energy_vs_device_hours.dat' index 1 using 1:2 with lines lw 2 lc 1 title 'fit: 0.1339 kWh per device-h [95% CI 0.1222, 0.1456], R^2 0.989'
set output
