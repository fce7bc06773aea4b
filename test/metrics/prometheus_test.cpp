// to_prometheus (issue 16, item 8): the exposition text for known Stats and a
// known LatencySnapshot, character for character; label and help escaping;
// invalid bus and metric names.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "courier/metrics/latency_histogram.hpp"
#include "courier/metrics/prometheus.hpp"
#include "courier/stats.hpp"

namespace {

using courier::LatencyHistogram;
using courier::Stats;
using courier::to_prometheus;
using std::chrono::nanoseconds;

Stats known_stats() {
  return Stats{.posted = 1,
               .delivered = 2,
               .delivered_events = 3,
               .dead = 4,
               .failed = 5,
               .dropped = 6,
               .vetoed = 9,
               .queued = 7,
               .subscriptions = 8,
               .retained = 9};
}

// The message of the std::invalid_argument that `render` throws, or "" if none.
template <typename Render>
std::string invalid_argument_message(Render render) {
  try {
    render();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

TEST(PrometheusStats, KnownStatsGiveExactlyThisText) {
  EXPECT_EQ(to_prometheus(known_stats(), "orders"),
            "# HELP courier_events_posted_total Events accepted by post() and try_post().\n"
            "# TYPE courier_events_posted_total counter\n"
            "courier_events_posted_total{bus=\"orders\"} 1\n"
            "# HELP courier_deliveries_total process() invocations that ran, each subscriber "
            "counting.\n"
            "# TYPE courier_deliveries_total counter\n"
            "courier_deliveries_total{bus=\"orders\"} 2\n"
            "# HELP courier_events_delivered_total Accepted events that reached at least one "
            "subscriber.\n"
            "# TYPE courier_events_delivered_total counter\n"
            "courier_events_delivered_total{bus=\"orders\"} 3\n"
            "# HELP courier_events_dead_total Accepted events that reached no subscriber.\n"
            "# TYPE courier_events_dead_total counter\n"
            "courier_events_dead_total{bus=\"orders\"} 4\n"
            "# HELP courier_deliveries_failed_total process() invocations that threw.\n"
            "# TYPE courier_deliveries_failed_total counter\n"
            "courier_deliveries_failed_total{bus=\"orders\"} 5\n"
            "# HELP courier_events_dropped_total Events streams dropped by their overflow "
            "policy.\n"
            "# TYPE courier_events_dropped_total counter\n"
            "courier_events_dropped_total{bus=\"orders\"} 6\n"
            "# HELP courier_events_vetoed_total Events a middleware vetoed.\n"
            "# TYPE courier_events_vetoed_total counter\n"
            "courier_events_vetoed_total{bus=\"orders\"} 9\n"
            "# HELP courier_events_queued Events accepted and not yet fully delivered.\n"
            "# TYPE courier_events_queued gauge\n"
            "courier_events_queued{bus=\"orders\"} 7\n"
            "# HELP courier_subscriptions (subscriber, pattern) pairs subscribed.\n"
            "# TYPE courier_subscriptions gauge\n"
            "courier_subscriptions{bus=\"orders\"} 8\n"
            "# HELP courier_retained_topics Topics with a retained event.\n"
            "# TYPE courier_retained_topics gauge\n"
            "courier_retained_topics{bus=\"orders\"} 9\n"
            "# HELP courier_delivery_latency_seconds Time from post() to the start of "
            "process(), while tracked (EventBus::track_latency).\n"
            "# TYPE courier_delivery_latency_seconds summary\n"
            "courier_delivery_latency_seconds{bus=\"orders\",quantile=\"0.5\"} 0\n"
            "courier_delivery_latency_seconds{bus=\"orders\",quantile=\"0.99\"} 0\n"
            "courier_delivery_latency_seconds_sum{bus=\"orders\"} 0\n"
            "courier_delivery_latency_seconds_count{bus=\"orders\"} 0\n"
            "# HELP courier_delivery_latency_max_seconds The longest time from post() to the "
            "start of process(), while tracked.\n"
            "# TYPE courier_delivery_latency_max_seconds gauge\n"
            "courier_delivery_latency_max_seconds{bus=\"orders\"} 0\n");
}

TEST(PrometheusStats, LatencyIsASummaryInSeconds) {
  LatencyHistogram histogram;
  for (int i = 0; i < 99; ++i) histogram.record(nanoseconds(1000));
  histogram.record(nanoseconds(2'000'000'000));
  Stats stats = known_stats();
  stats.latency = histogram.snapshot();
  const std::string text = to_prometheus(stats, "b");
  EXPECT_NE(text.find("courier_delivery_latency_seconds{bus=\"b\",quantile=\"0.5\"} "
                      "0.000001023\n"
                      "courier_delivery_latency_seconds{bus=\"b\",quantile=\"0.99\"} "
                      "0.000001023\n"
                      "courier_delivery_latency_seconds_sum{bus=\"b\"} 2.000099\n"
                      "courier_delivery_latency_seconds_count{bus=\"b\"} 100\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("courier_delivery_latency_max_seconds{bus=\"b\"} 2\n"), std::string::npos)
      << text;
}

TEST(PrometheusStats, TopicCountsAreCountersLabelledByTopic) {
  Stats stats = known_stats();
  stats.topics = {{.topic = "(other)", .posted = 9, .delivered = 8, .dropped = 0, .failed = 0},
                  {.topic = "a.b", .posted = 1, .delivered = 2, .dropped = 3, .failed = 4}};
  const std::string text = to_prometheus(stats, "b");
  EXPECT_NE(text.find("courier_delivery_latency_max_seconds{bus=\"b\"} 0\n"
                      "# HELP courier_topic_events_posted_total Events accepted, per topic, while "
                      "tracked.\n"
                      "# TYPE courier_topic_events_posted_total counter\n"
                      "courier_topic_events_posted_total{bus=\"b\",topic=\"(other)\"} 9\n"
                      "courier_topic_events_posted_total{bus=\"b\",topic=\"a.b\"} 1\n"
                      "# HELP courier_topic_deliveries_total process() invocations that ran, per "
                      "topic, while tracked.\n"
                      "# TYPE courier_topic_deliveries_total counter\n"
                      "courier_topic_deliveries_total{bus=\"b\",topic=\"(other)\"} 8\n"
                      "courier_topic_deliveries_total{bus=\"b\",topic=\"a.b\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE courier_topic_events_dropped_total counter\n"
                      "courier_topic_events_dropped_total{bus=\"b\",topic=\"(other)\"} 0\n"
                      "courier_topic_events_dropped_total{bus=\"b\",topic=\"a.b\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE courier_topic_deliveries_failed_total counter\n"
                      "courier_topic_deliveries_failed_total{bus=\"b\",topic=\"(other)\"} 0\n"
                      "courier_topic_deliveries_failed_total{bus=\"b\",topic=\"a.b\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(text.ends_with("topic=\"a.b\"} 4\n")) << text;
}

TEST(PrometheusStats, LargestCountsAreWrittenInFull) {
  Stats stats;
  stats.posted = UINT64_MAX;
  EXPECT_NE(to_prometheus(stats, "b")
                .find("courier_events_posted_total{bus=\"b\"} "
                      "18446744073709551615\n"),
            std::string::npos);
}

TEST(PrometheusStats, BusNameIsEscapedInTheLabel) {
  const std::string text = to_prometheus(known_stats(), "a\\b\"c\nd");
  EXPECT_NE(text.find("courier_events_posted_total{bus=\"a\\\\b\\\"c\\nd\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(PrometheusStats, AcceptsUtf8AndNamesUpTo128Bytes) {
  EXPECT_NE(to_prometheus(known_stats(),
                          "gr\xC3\xB6\xC3\x9F"
                          "e \xE2\x82\xAC")
                .find("{bus=\"gr\xC3\xB6\xC3\x9F"
                      "e \xE2\x82\xAC\"}"),
            std::string::npos);
  EXPECT_NO_THROW((void)to_prometheus(known_stats(), std::string(128, 'x')));
}

TEST(PrometheusStats, InvalidBusNamesThrowNamingThem) {
  const Stats stats = known_stats();
  for (const std::string& name :
       {std::string(), std::string(129, 'x'), std::string("tab\there"), std::string("cr\rhere"),
        std::string("nul\0here", 8), std::string("del\x7Fhere"), std::string("bad\xC0\xAF"),
        std::string("surrogate\xED\xA0\x80"), std::string("cut\xE2\x82"),
        std::string("above\xF4\x90\x80\x80")}) {
    const std::string message = invalid_argument_message([&] { (void)to_prometheus(stats, name); });
    EXPECT_NE(message.find("invalid bus name \"" + name.substr(0, 3)), std::string::npos)
        << "name of " << name.size() << " bytes: \"" << message << '"';
  }
}

TEST(PrometheusHistogram, KnownSnapshotGivesExactlyThisText) {
  LatencyHistogram histogram;
  histogram.record(nanoseconds(1));
  histogram.record(nanoseconds(5));
  histogram.record(nanoseconds(5));
  EXPECT_EQ(
      to_prometheus(histogram.snapshot(), "courier_latency_seconds", "Post to process.", "orders"),
      "# HELP courier_latency_seconds Post to process.\n"
      "# TYPE courier_latency_seconds histogram\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0\"} 0\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0.000000001\"} 1\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0.000000002\"} 1\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0.000000003\"} 1\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0.000000004\"} 1\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"0.000000005\"} 3\n"
      "courier_latency_seconds_bucket{bus=\"orders\",le=\"+Inf\"} 3\n"
      "courier_latency_seconds_sum{bus=\"orders\"} 0.000000011\n"
      "courier_latency_seconds_count{bus=\"orders\"} 3\n");
}

TEST(PrometheusHistogram, EmptySnapshotHasTheInfiniteBucketOnly) {
  EXPECT_EQ(to_prometheus(LatencyHistogram().snapshot(), "idle_seconds", "a\\b\nc", "b"),
            "# HELP idle_seconds a\\\\b\\nc\n"
            "# TYPE idle_seconds histogram\n"
            "idle_seconds_bucket{bus=\"b\",le=\"+Inf\"} 0\n"
            "idle_seconds_sum{bus=\"b\"} 0\n"
            "idle_seconds_count{bus=\"b\"} 0\n");
}

TEST(PrometheusHistogram, SecondsAreExactBucketBounds) {
  LatencyHistogram histogram;
  histogram.record(std::chrono::seconds(2));  // in the bucket ending at 2^31 - 1 ns
  const std::string text = to_prometheus(histogram.snapshot(), "slow_seconds", "Slow.", "b");
  EXPECT_NE(text.find("slow_seconds_bucket{bus=\"b\",le=\"2.147483647\"} 1\n"
                      "slow_seconds_bucket{bus=\"b\",le=\"+Inf\"} 1\n"
                      "slow_seconds_sum{bus=\"b\"} 2\n"),
            std::string::npos)
      << text;
}

TEST(PrometheusHistogram, InvalidMetricOrBusNameThrowsNamingIt) {
  const auto snapshot = LatencyHistogram().snapshot();
  for (const char* name : {"", "1st_seconds", "bad-name", "sp ace", "caf\xC3\xA9"}) {
    const std::string message =
        invalid_argument_message([&] { (void)to_prometheus(snapshot, name, "h", "b"); });
    EXPECT_NE(message.find("invalid metric name \"" + std::string(name) + "\""), std::string::npos)
        << message;
  }
  EXPECT_NO_THROW((void)to_prometheus(snapshot, "ns:sub_system_2", "h", "b"));
  EXPECT_NE(invalid_argument_message([&] {
              (void)to_prometheus(snapshot, "ok", "h", "");
            }).find("invalid bus name \"\""),
            std::string::npos);
}

}  // namespace
