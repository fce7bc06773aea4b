/// \file
/// to_prometheus: a bus's Stats, and a LatencySnapshot, in the Prometheus text
/// exposition format, version 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/).
#pragma once

#include <string>
#include <string_view>

#include "courier/detail/export.hpp"
#include "courier/metrics/latency_histogram.hpp"
#include "courier/stats.hpp"

namespace courier {

/// The content type of what to_prometheus returns, for an HTTP response.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// A bus's counters in the Prometheus text format, every sample labelled
/// `bus="<bus_name>"`: a `# HELP` line, a `# TYPE` line and one sample per
/// Stats member. The cumulative counts are counters (`courier_events_posted_total`,
/// `courier_deliveries_total`, `courier_events_delivered_total`,
/// `courier_events_dead_total`, `courier_deliveries_failed_total`,
/// `courier_events_dropped_total`); `queued`, `subscriptions` and `retained`
/// are gauges (`courier_events_queued`, `courier_subscriptions`,
/// `courier_retained_topics`). Then the latency
/// (Stats::latency) as a summary, `courier_delivery_latency_seconds` with
/// `quantile="0.5"` and `quantile="0.99"` samples, `_sum` and `_count` (all
/// zero while it was never tracked), and its max as the gauge
/// `courier_delivery_latency_max_seconds`, in seconds. Then, if Stats::topics
/// has rows, four counters with a sample per topic, labelled
/// `bus="<bus_name>",topic="<topic>"` in the rows' order:
/// `courier_topic_events_posted_total`, `courier_topic_deliveries_total`,
/// `courier_topic_events_dropped_total`, `courier_topic_deliveries_failed_total`
/// (the topics beyond the bound under `topic="(other)"`). Every line ends in '\\n'.
///
/// A valid bus name is 1 to 128 bytes of well-formed UTF-8 with no control
/// character other than newline; in the label its backslashes, double quotes and
/// newlines are escaped as the format requires (`\\`, `\"`, `\n`). Throws
/// std::invalid_argument naming an invalid bus name (escaped), and
/// std::bad_alloc. Thread-safe: a pure function of its arguments.
COURIER_EXPORT std::string to_prometheus(const Stats& stats, std::string_view bus_name);

/// A LatencySnapshot as a Prometheus histogram named `metric_name`, labelled
/// `bus="<bus_name>"`: `# HELP <metric_name> <help>`, `# TYPE ... histogram`,
/// then cumulative `<metric_name>_bucket{bus="...",le="..."}` samples, one per
/// bucket from the first up to the last non-empty one, then `le="+Inf"`,
/// `<metric_name>_sum` and `<metric_name>_count`.
///
/// Durations are written in seconds, as Prometheus expects (so name the metric
/// `..._seconds`): each `le` is a bucket's inclusive upper bound, exact to the
/// nanosecond (LatencyHistogram::bucket_upper_bound). Since only buckets up to
/// the largest duration seen are written, the set of `le` values grows as
/// longer durations arrive; a histogram that is empty writes `+Inf` alone.
///
/// `metric_name` must match `[a-zA-Z_:][a-zA-Z0-9_:]*`; the bus name is
/// checked as for the Stats overload; backslashes and newlines in `help` are
/// escaped. Throws std::invalid_argument naming an invalid metric or bus name,
/// and std::bad_alloc. Thread-safe: a pure function of its arguments.
COURIER_EXPORT std::string to_prometheus(const LatencySnapshot& latency,
                                         std::string_view metric_name, std::string_view help,
                                         std::string_view bus_name);

}  // namespace courier
