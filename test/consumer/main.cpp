// A program that uses courier, built by test/consumer/run_consumer_tests.sh in
// each way a project can take courier in. Exits non-zero unless the event it
// posts arrives, and the library linked in is the version of its headers.
#include <courier/courier.hpp>
#include <iostream>

int main() {
  int received = 0;
  courier::EventBus bus(courier::Options{.threads = 2, .queue_capacity = 16});
  bus.subscribe<int>("consumer.ping",
                     [&received](const courier::Event<int>& event) { received = event.data(); });
  bus.post<int>("consumer.ping", 42);
  bus.shutdown();  // delivers what was accepted, then joins the pool: `received` is settled
  std::cout << "courier " << courier::version() << ": received " << received << '\n';
  return received == 42 && courier::version() == COURIER_VERSION_STRING ? 0 : 1;
}
