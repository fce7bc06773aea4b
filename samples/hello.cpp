// The smallest complete courier program: one subscriber, one event.
#include <courier/courier.hpp>
#include <iostream>
#include <string>

int main() {
  courier::EventBus bus;
  bus.subscribe<std::string>("greetings.*", [](const courier::Event<std::string>& event) {
    std::cout << event.topic() << ": " << event.data() << '\n';
  });
  bus.post(courier::Event<std::string>("greetings.world", "hello, world"));
  bus.shutdown();  // delivers what was posted, then stops
  return bus.stats().delivered == 1 ? 0 : 1;
}
