# pareto.gp - a wattscale report figure: Pareto front: time vs energy
# Data: pareto.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' pareto.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "pareto.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "pareto.svg"
}
set title 'Pareto front: time vs energy'
set xlabel 'wall time per run (s)'
set ylabel 'energy per run (kWh)'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
plot 'pareto.dat' index 0 using 1:2 with points pt 6 ps 1.5 lc rgb 'gray50' title 'configurations', \
     'pareto.dat' index 1 using 1:2 with points pt 7 ps 1.5 lc rgb 'red' title 'Pareto front', \
     'pareto.dat' index 0 using 1:2:(sprintf('%dx%d', int($4), int($6))) with labels offset 0,1 font ',9' notitle
set output
