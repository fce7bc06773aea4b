// The consumer process of NatsBridge.AtLeastOnceSurvivesAConsumerProcessKilledMidStream:
// imports "jobs.>" at least once (durable "worker") and prints, for each event
// its subscriber processes, "id deliveries" on stdout (unbuffered: a line
// printed is a line the test reads, even if this process is killed next).
// Runs until SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "courier/nats/bridge.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  courier::Options options;
  options.threads = 2;
  courier::EventBus bus(options);
  auto subscription = bus.subscribe<int>("jobs.>", [](const courier::Event<int>& event) {
    const std::string* redelivered = event.headers().find("courier-redelivered");
    const std::string line = std::to_string(event.data()) + " " +
                             (redelivered != nullptr ? *redelivered : std::string("1")) + "\n";
    if (::write(1, line.data(), line.size()) < 0) std::_Exit(3);
  });
  courier::nats::Bridge bridge(bus, {.url = argv[1], .name = "worker"});
  bridge.import_subjects<int>("jobs.>", {.guarantee = courier::nats::Guarantee::AtLeastOnce,
                                         .queue_depth = 16,
                                         .durable = "worker",
                                         .ack_wait = std::chrono::milliseconds(1000)});
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
