# power_over_time.gp - a wattscale report figure: Power over time: run g1-gbs4-lbs4-r1
# Data: power_over_time.dat, blocks separated by two blank lines (index 0, 1, ...).
# Restyle freely, then in this folder: gnuplot -e 'fmt="svg"' power_over_time.gp   (or fmt="png")
if (!exists("fmt")) fmt = "svg"
if (fmt eq "png") {
    if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
        set terminal pngcairo size 960,600 font "sans,11" noenhanced
    } else {
        set terminal png size 960,600 noenhanced
    }
    set output "power_over_time.png"
} else {
    set terminal svg size 720,450 font "sans,12" noenhanced background rgb "white"
    set output "power_over_time.svg"
}
set title 'Power over time: run g1-gbs4-lbs4-r1'
set xlabel 'time since the run''s start (s)'
set ylabel 'power (W)'
set grid
set key at screen 0.5, screen 0.01 center bottom horizontal box
set bmargin 5
set border lw 1
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border
set yrange [0:*]
plot 'power_over_time.dat' index 0 using 1:2 with lines lw 1.5 title 'node 0 gpu GPU-4cc38882-2b4d-3a21-8adf-5bee231fd019'
set output
