#!/usr/bin/env bash
# Charts a run of compare: courier against the baselines (W1-W3 throughput) and
# the W3 fan-out curve. Needs gnuplot (Debian: gnuplot-nox).
#
#   bench/plot_performance.sh DATA_DIR OUTPUT.png
#
# DATA_DIR is what `compare --data-dir DATA_DIR` wrote: throughput.tsv
# (workload, contender, is courier, M/s) and fan_out_curve.tsv (subscribers,
# then M deliveries/s of courier, Asio, moodycamel).
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 DATA_DIR OUTPUT.png" >&2
  exit 2
fi
data=$1
output=$2
[[ -s $data/throughput.tsv ]] || { echo "$0: $data/throughput.tsv is missing or empty" >&2; exit 1; }

# A step of compare that failed (a hang) leaves its series empty: say so on
# the chart rather than drop it.
curve_plot="plot \"$data/fan_out_curve.tsv\" using 1:2 with linespoints lw 2 pt 7 lc rgb \"#E8710A\" title \"courier\", \\
     \"\" using 1:3 with linespoints lw 2 pt 5 lc rgb \"#2E86C1\" title \"Asio thread_pool\", \\
     \"\" using 1:4 with linespoints lw 2 pt 9 lc rgb \"#7F8C8D\" title \"moodycamel, 2 consumers (limit)\""
if [[ ! -s $data/fan_out_curve.tsv ]]; then
  curve_plot='set label "no data: the W3 curve step failed in this run" at graph 0.5,0.5 center
set yrange [0:1]
plot 2 notitle'
fi

gnuplot <<GNUPLOT
set terminal pngcairo size 1100,480 font "DejaVu Sans,9" noenhanced
set output "$output"
set datafile separator "\t"
set multiplot layout 1,2 margins 0.07,0.98,0.24,0.88 spacing 0.08 title "courier vs baselines, measured side by side in one run (2-core machine)"

# Left: throughput per workload. A log scale, because the std::function loop
# is two orders of magnitude above everything that hands events over.
set title "Throughput (M events/s; W3: M deliveries/s)"
set logscale y
set yrange [0.5:*]
set grid ytics
set style fill solid 0.85 border -1
set boxwidth 0.7
set xtics rotate by 40 right nomirror
set key off
plot "$data/throughput.tsv" using 0:4:(\$3 == 1 ? 0xE8710A : 0x7F8C8D):xtic(sprintf("%s %s", stringcolumn(1), stringcolumn(2))) \
       with boxes lc rgb variable, \
     "" using 0:4:(sprintf("%.3g", \$4)) with labels offset 0,0.7 font ",8"

# Right: the W3 curve, deliveries/s against the number of subscribers.
set title "W3 fan-out: 2 producers, N concurrent subscribers"
unset logscale y
set yrange [0:*]
set logscale x 2
set xrange [0.8:80]
set xtics norotate (1, 2, 4, 8, 16, 32, 64)
set xlabel "subscribers"
set ylabel "M deliveries/s"
set key below
$curve_plot
unset multiplot
GNUPLOT
echo "wrote $output"
