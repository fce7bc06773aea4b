#include "courier/metrics/prometheus.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace courier {
namespace {

constexpr std::size_t kMaxBusNameBytes = 128;

// The escapes of a label value: backslash, double quote and newline (the
// format's "Text format details").
std::string escaped_label_value(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      escaped += "\\\\";
    else if (c == '"')
      escaped += "\\\"";
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return escaped;
}

// The escapes of a HELP docstring: backslash and newline only.
std::string escaped_help(std::string_view help) {
  std::string escaped;
  escaped.reserve(help.size());
  for (const char c : help) {
    if (c == '\\')
      escaped += "\\\\";
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return escaped;
}

// Bytes of a UTF-8 sequence led by `lead`, or 0 if no sequence starts so.
std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Well-formed UTF-8 as Unicode defines it (table 3-7): no overlong forms, no
// surrogates, nothing above U+10FFFF.
bool is_well_formed_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    const std::size_t length = utf8_sequence_length(lead);
    if (length == 0 || at + length > text.size()) return false;
    for (std::size_t next = 1; next < length; ++next) {
      const auto byte = static_cast<unsigned char>(text[at + next]);
      unsigned char low = 0x80;
      unsigned char high = 0xBF;
      if (next == 1 && lead == 0xE0) low = 0xA0;
      if (next == 1 && lead == 0xED) high = 0x9F;
      if (next == 1 && lead == 0xF0) low = 0x90;
      if (next == 1 && lead == 0xF4) high = 0x8F;
      if (byte < low || byte > high) return false;
    }
    at += length;
  }
  return true;
}

bool has_control_character_but_newline(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\n') || byte == 0x7F) return true;
  }
  return false;
}

[[noreturn]] void reject(std::string_view what, std::string_view name, std::string_view why) {
  throw std::invalid_argument("courier::to_prometheus: invalid " + std::string(what) + " \"" +
                              escaped_label_value(name) + "\": " + std::string(why));
}

void check_bus_name(std::string_view bus_name) {
  if (bus_name.empty()) reject("bus name", bus_name, "empty");
  if (bus_name.size() > kMaxBusNameBytes) reject("bus name", bus_name, "longer than 128 bytes");
  if (!is_well_formed_utf8(bus_name)) reject("bus name", bus_name, "not well-formed UTF-8");
  if (has_control_character_but_newline(bus_name))
    reject("bus name", bus_name, "has a control character");
}

bool is_metric_name_character(char c, bool first) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  const bool digit = c >= '0' && c <= '9';
  return letter || c == '_' || c == ':' || (digit && !first);
}

void check_metric_name(std::string_view metric_name) {
  if (metric_name.empty()) reject("metric name", metric_name, "empty");
  for (std::size_t at = 0; at < metric_name.size(); ++at)
    if (!is_metric_name_character(metric_name[at], at == 0))
      reject("metric name", metric_name, "not [a-zA-Z_:][a-zA-Z0-9_:]*");
}

// Whole nanoseconds as exact decimal seconds, without trailing zeros: 1023 ns
// is "0.000001023", 2000000000 ns is "2".
std::string seconds_text(std::uint64_t nanoseconds) {
  constexpr std::uint64_t kPerSecond = 1'000'000'000;
  std::string text = std::to_string(nanoseconds / kPerSecond);
  std::string fraction = std::to_string(nanoseconds % kPerSecond);
  if (fraction == "0") return text;
  fraction.insert(0, 9 - fraction.size(), '0');
  fraction.erase(fraction.find_last_not_of('0') + 1);
  return text + '.' + fraction;
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out.append("# HELP ").append(name).append(" ").append(escaped_help(help)).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::string_view value) {
  out.append(name).append("{").append(labels).append("} ").append(value).append("\n");
}

void append_metric(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type, std::string_view bus_label, std::uint64_t value) {
  append_header(out, name, help, type);
  append_sample(out, name, bus_label, std::to_string(value));
}

// Cumulative `le` samples, one per bucket up to the last non-empty one.
void append_finite_buckets(std::string& out, const std::string& bucket_name, const std::string& bus,
                           const std::vector<std::uint64_t>& buckets) {
  std::size_t end = 0;  // one past the last non-empty bucket
  for (std::size_t index = 0; index < std::min(buckets.size(), LatencyHistogram::bucket_count);
       ++index)
    if (buckets[index] != 0) end = index + 1;
  std::uint64_t cumulative = 0;
  for (std::size_t index = 0; index < end; ++index) {
    cumulative += buckets[index];
    std::string labels = bus;
    labels.append(",le=\"").append(seconds_text(LatencyHistogram::bucket_upper_bound(index)));
    append_sample(out, bucket_name, labels.append("\""), std::to_string(cumulative));
  }
}

// The latency as a summary (p50, p99, sum, count) and its max as a gauge.
void append_latency_summary(std::string& out, const std::string& bus,
                            const LatencySnapshot& latency) {
  const auto seconds = [](std::chrono::nanoseconds duration) {
    return seconds_text(static_cast<std::uint64_t>(duration.count() < 0 ? 0 : duration.count()));
  };
  const std::string name = "courier_delivery_latency_seconds";
  append_header(out, name,
                "Time from post() to the start of process(), while tracked "
                "(EventBus::track_latency).",
                "summary");
  append_sample(out, name, bus + ",quantile=\"0.5\"", seconds(latency.p50));
  append_sample(out, name, bus + ",quantile=\"0.99\"", seconds(latency.p99));
  append_sample(out, name + "_sum", bus, seconds(latency.sum));
  append_sample(out, name + "_count", bus, std::to_string(latency.count));
  append_header(out, "courier_delivery_latency_max_seconds",
                "The longest time from post() to the start of process(), while tracked.", "gauge");
  append_sample(out, "courier_delivery_latency_max_seconds", bus, seconds(latency.max));
}

// One counter family per count, a sample per topic; nothing without topics.
void append_topic_counts(std::string& out, const std::string& bus,
                         const std::vector<TopicCounts>& topics) {
  if (topics.empty()) return;
  struct Family {
    std::string_view name;
    std::string_view help;
    std::uint64_t TopicCounts::*count;
  };
  static constexpr std::array<Family, 4> kFamilies{{
      {"courier_topic_events_posted_total", "Events accepted, per topic, while tracked.",
       &TopicCounts::posted},
      {"courier_topic_deliveries_total",
       "process() invocations that ran, per topic, while tracked.", &TopicCounts::delivered},
      {"courier_topic_events_dropped_total",
       "Events streams dropped by their overflow policy, per topic, while tracked.",
       &TopicCounts::dropped},
      {"courier_topic_deliveries_failed_total",
       "process() invocations that threw, per topic, while tracked.", &TopicCounts::failed},
  }};
  for (const Family& family : kFamilies) {
    append_header(out, family.name, family.help, "counter");
    for (const TopicCounts& row : topics) {
      const std::string labels = bus + ",topic=\"" + escaped_label_value(row.topic) + "\"";
      append_sample(out, family.name, labels, std::to_string(row.*family.count));
    }
  }
}

std::string bus_label(std::string_view bus_name) {
  check_bus_name(bus_name);
  return "bus=\"" + escaped_label_value(bus_name) + "\"";
}

}  // namespace

std::string to_prometheus(const Stats& stats, std::string_view bus_name) {
  const std::string bus = bus_label(bus_name);
  std::string out;
  append_metric(out, "courier_events_posted_total", "Events accepted by post() and try_post().",
                "counter", bus, stats.posted);
  append_metric(out, "courier_deliveries_total",
                "process() invocations that ran, each subscriber counting.", "counter", bus,
                stats.delivered);
  append_metric(out, "courier_events_delivered_total",
                "Accepted events that reached at least one subscriber.", "counter", bus,
                stats.delivered_events);
  append_metric(out, "courier_events_dead_total", "Accepted events that reached no subscriber.",
                "counter", bus, stats.dead);
  append_metric(out, "courier_deliveries_failed_total", "process() invocations that threw.",
                "counter", bus, stats.failed);
  append_metric(out, "courier_events_dropped_total",
                "Events streams dropped by their overflow policy.", "counter", bus, stats.dropped);
  append_metric(out, "courier_events_vetoed_total", "Events a middleware vetoed.", "counter", bus,
                stats.vetoed);
  append_metric(out, "courier_events_queued", "Events accepted and not yet fully delivered.",
                "gauge", bus, stats.queued);
  append_metric(out, "courier_subscriptions", "(subscriber, pattern) pairs subscribed.", "gauge",
                bus, stats.subscriptions);
  append_metric(out, "courier_retained_topics", "Topics with a retained event.", "gauge", bus,
                stats.retained);
  append_latency_summary(out, bus, stats.latency);
  append_topic_counts(out, bus, stats.topics);
  return out;
}

std::string to_prometheus(const LatencySnapshot& latency, std::string_view metric_name,
                          std::string_view help, std::string_view bus_name) {
  check_metric_name(metric_name);
  const std::string bus = bus_label(bus_name);
  const std::string name(metric_name);
  std::string out;
  append_header(out, name, help, "histogram");
  append_finite_buckets(out, name + "_bucket", bus, latency.buckets);
  append_sample(out, name + "_bucket", bus + ",le=\"+Inf\"", std::to_string(latency.count));
  const auto sum = static_cast<std::uint64_t>(latency.sum.count() < 0 ? 0 : latency.sum.count());
  append_sample(out, name + "_sum", bus, seconds_text(sum));
  append_sample(out, name + "_count", bus, std::to_string(latency.count));
  return out;
}

}  // namespace courier
