// Monitoring a bus where monitoring already looks: Prometheus (issue 16, item 8).
//
// Producer threads post counts for the counters c1..c4. The aggregator takes
// them in batches, one call per batch: a courier::buffer operator between the
// subscription and the aggregator hands it what arrived in the last 100 ms
// (or 1000 counts, whichever comes first), the shape a monitoring job that
// flushes once a period wants. Each count carries the time it was posted, so
// the aggregator measures its own post-to-aggregation latency into a
// courier::LatencyHistogram. The bus counts per topic (track_topics) and
// times each delivery itself (track_latency); its stats, with those, and the
// sample's histogram are written in the Prometheus text format.
//
//   monitor                         post a batch, wait until it is aggregated,
//                                   print the metrics on stdout
//   monitor --serve PORT            post a batch, then keep posting while serving
//                                   GET /metrics on http://127.0.0.1:PORT until
//                                   killed; PORT 0 picks a free port. The first
//                                   line on stdout is "listening on <url>".
//   monitor --serve PORT --requests N   the same, exiting after N answers
//
// Exits with 0 once the totals posted and aggregated match, and both
// histograms and the per-topic counts counted every event.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <courier/courier.hpp>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::vector<std::string> kCounters = {"c1", "c2", "c3", "c4"};
constexpr int kProducers = 4;
constexpr int kBatchPerProducer = 2500;

struct Count {
  int amount = 0;
  Clock::time_point posted_at;  // stands in for the post timestamp of event metadata
};

// Takes batches from courier::buffer, which calls it one batch at a time (from
// a bus thread or the timer thread, never two at once), so its sums need no
// lock. The lock is for wait_for, which a reader calls before reading them.
class CounterAggregator {
 public:
  explicit CounterAggregator(courier::LatencyHistogram& latency) : latency_(latency) {}

  void add(const std::vector<courier::Event<Count>>& batch) {
    for (const courier::Event<Count>& event : batch) {
      latency_.record(Clock::now() - event.data().posted_at);
      sums_[std::string(event.topic())] += event.data().amount;
      total_ += event.data().amount;
    }
    // Notified under the lock: once wait_for returns, this call no longer
    // touches the aggregator, which the waiter may then destroy.
    const std::lock_guard lock(mutex_);
    aggregated_ += batch.size();
    ++batches_;
    progress_.notify_all();
  }

  // Waits until `events` counts are aggregated: a buffer drops a partial
  // batch when its subscription ends, so the bus must not shut down before.
  void wait_for(std::uint64_t events) {
    std::unique_lock lock(mutex_);
    progress_.wait(lock, [&] { return aggregated_ >= events; });
  }

  std::int64_t total() const { return total_; }
  const std::map<std::string, std::int64_t>& sums() const { return sums_; }
  std::uint64_t batches() const {
    const std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  courier::LatencyHistogram& latency_;
  std::map<std::string, std::int64_t> sums_;
  std::int64_t total_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable progress_;
  std::uint64_t aggregated_ = 0;  // guarded by mutex_
  std::uint64_t batches_ = 0;     // guarded by mutex_
};

// Posts counts and keeps their sum, for the check at the end.
class Producer {
 public:
  explicit Producer(courier::EventBus& bus) : bus_(bus) {}

  void post(int producer, int sequence) {
    const int amount = 1 + (producer * 31 + sequence * 17) % 100;
    const std::string& counter = kCounters[static_cast<std::size_t>(sequence) % kCounters.size()];
    bus_.post(courier::Event<Count>(counter, Count{amount, Clock::now()}));
    posted_amount_.fetch_add(amount, std::memory_order_relaxed);
    posted_events_.fetch_add(1, std::memory_order_relaxed);
  }

  std::int64_t posted_amount() const { return posted_amount_.load(); }
  std::uint64_t posted_events() const { return posted_events_.load(); }

 private:
  courier::EventBus& bus_;
  std::atomic<std::int64_t> posted_amount_{0};
  std::atomic<std::uint64_t> posted_events_{0};
};

void post_batch(Producer& producer) {
  std::vector<std::thread> threads;
  threads.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&producer, p] {
      for (int i = 0; i < kBatchPerProducer; ++i) producer.post(p, i);
    });
  for (std::thread& thread : threads) thread.join();
}

// Producer threads that post one count a millisecond each while it lives (the
// destructor stops and joins them, also when serving throws).
class SteadyTraffic {
 public:
  explicit SteadyTraffic(Producer& producer) {
    threads_.reserve(kProducers);
    for (int p = 0; p < kProducers; ++p)
      threads_.emplace_back([this, &producer, p] { run(producer, p); });
  }
  SteadyTraffic(const SteadyTraffic&) = delete;
  SteadyTraffic& operator=(const SteadyTraffic&) = delete;

  ~SteadyTraffic() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_signal_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

 private:
  void run(Producer& producer, int p) {
    std::unique_lock lock(mutex_);
    for (int i = 0;
         !stop_signal_.wait_for(lock, std::chrono::milliseconds(1), [this] { return stopping_; });
         ++i) {
      lock.unlock();
      producer.post(p, i);
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;  // guarded by mutex_
  std::vector<std::thread> threads_;
};

std::string metrics_text(const courier::EventBus& bus, const courier::LatencyHistogram& latency) {
  return courier::to_prometheus(bus.stats(), "monitor") +
         courier::to_prometheus(latency.snapshot(), "monitor_post_to_process_seconds",
                                "Time from post() to the aggregator's process(), measured by "
                                "the sample.",
                                "monitor");
}

http::response<http::string_body> respond(const http::request<http::string_body>& request,
                                          const std::function<std::string()>& metrics) {
  http::response<http::string_body> response;
  response.version(request.version());
  response.keep_alive(false);
  if (request.method() != http::verb::get) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET");
  } else if (request.target() != "/metrics") {
    response.result(http::status::not_found);
    response.body() = "only /metrics here\n";
  } else {
    response.result(http::status::ok);
    response.set(http::field::content_type, courier::prometheus_content_type);
    response.body() = metrics();
  }
  response.prepare_payload();
  return response;
}

// Answers one request on `socket`; false if the client broke off.
bool answer(tcp::socket& socket, const std::function<std::string()>& metrics) {
  try {
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(socket, buffer, request);
    http::write(socket, respond(request, metrics));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    return true;
  } catch (const boost::system::system_error& error) {
    std::cerr << "monitor: a request failed: " << error.what() << '\n';
    return false;
  }
}

// Serves on 127.0.0.1:port (0: a free port), one connection at a time, until
// `requests` answers have been given (forever without it).
void serve(unsigned short port, std::optional<long> requests,
           const std::function<std::string()>& metrics) {
  boost::asio::io_context context;
  tcp::acceptor acceptor(context, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << "/metrics"
            << std::endl;
  for (long answered = 0; !requests || answered < *requests;) {
    tcp::socket socket(context);
    acceptor.accept(socket);
    if (answer(socket, metrics)) ++answered;
  }
}

struct Arguments {
  std::optional<unsigned short> port;
  std::optional<long> requests;
};

[[noreturn]] void usage() {
  std::cerr << "usage: monitor [--serve PORT [--requests N]]\n";
  std::exit(2);
}

Arguments arguments_from(int argc, char** argv) {
  const std::vector<std::string> given(argv + 1, argv + argc);
  Arguments arguments;
  if (given.empty()) return arguments;
  if ((given.size() != 2 && given.size() != 4) || given[0] != "--serve") usage();
  const int port = std::stoi(given[1]);
  if (port < 0 || port > 65535) usage();
  arguments.port = static_cast<unsigned short>(port);
  if (given.size() == 4) {
    if (given[2] != "--requests" || std::stol(given[3]) < 1) usage();
    arguments.requests = std::stol(given[3]);
  }
  return arguments;
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): an exception ends the sample, with its message
int main(int argc, char** argv) {
  const Arguments arguments = arguments_from(argc, argv);

  // Declared in the order they may be destroyed: the bus first, then the
  // buffer's timer thread (joined), and only then what their calls touch.
  courier::LatencyHistogram latency;
  CounterAggregator aggregator(latency);
  courier::TimerThread timers;
  courier::EventBus bus;
  bus.track_topics(true);
  bus.track_latency(true);
  bus.subscribe<Count>(
      kCounters,
      courier::pipe<Count>(courier::buffer(1000, 100ms, timers),
                           [&aggregator](const std::vector<courier::Event<Count>>& batch) {
                             aggregator.add(batch);
                           }));
  Producer producer(bus);

  post_batch(producer);
  aggregator.wait_for(producer.posted_events());  // the first scrape counts the whole batch
  if (arguments.port) {
    const SteadyTraffic traffic(producer);
    serve(*arguments.port, arguments.requests, [&] { return metrics_text(bus, latency); });
  }
  aggregator.wait_for(producer.posted_events());  // nothing left in a partial batch
  bus.shutdown();
  if (!arguments.port) std::cout << metrics_text(bus, latency);

  for (const auto& [counter, sum] : aggregator.sums()) std::cerr << counter << ": " << sum << '\n';
  const bool totals_match = producer.posted_amount() == aggregator.total();
  const courier::Stats stats = bus.stats();
  std::uint64_t counted_per_topic = 0;
  for (const courier::TopicCounts& topic : stats.topics) counted_per_topic += topic.delivered;
  const bool all_timed = latency.snapshot().count == stats.posted &&
                         stats.latency.count == stats.posted && counted_per_topic == stats.posted;
  std::cerr << "total posted " << producer.posted_amount() << ", aggregated " << aggregator.total()
            << (totals_match ? " (match)" : " (DIFFER)") << "; " << latency.snapshot().count
            << " latencies in the sample, " << stats.latency.count << " in the bus (p50 "
            << stats.latency.p50.count() << " ns, p99 " << stats.latency.p99.count() << " ns), "
            << counted_per_topic << " deliveries counted per topic, for " << stats.posted
            << " events, in " << aggregator.batches() << " batches\n";
  return totals_match && all_timed ? 0 : 1;
}
