// Request-reply between threads: a pricing service answers quotes on
// "rpc.quote", four client threads ask it questions, and one question goes
// to a service nobody runs. Prints each client's total and the errors seen;
// exits non-zero if any reply was wrong.
//
//   rpc [--requests N]   (default 1000 per client)
#include <courier/courier.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Quote {
  std::string item;
  int quantity = 0;
};

int unit_price(const std::string& item) {
  if (item == "apple") return 3;
  if (item == "pear") return 5;
  throw std::invalid_argument("no price for \"" + item + "\"");
}

int requests_per_client(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--requests") return std::stoi(argv[i + 1]);
  }
  return 1000;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const int requests = requests_per_client(argc, argv);
  courier::EventBus bus(courier::Options{.threads = 2});
  courier::Subscription pricing = courier::serve<Quote>(
      bus, "rpc.quote", [](const Quote& quote) { return unit_price(quote.item) * quote.quantity; },
      courier::Concurrency::Concurrent);

  courier::Requester<int> requester(bus);  // one inbox, shared by every client thread
  std::atomic<int> wrong{0};
  constexpr int kClients = 4;
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back([&, client] {
      long total = 0;
      for (int i = 1; i <= requests; ++i) {
        const int price = requester.request("rpc.quote", Quote{"apple", i}, 5s).get().data();
        if (price != 3 * i) ++wrong;
        total += price;
      }
      std::cout << "client " << client << ": total " << total << '\n';
    });
  }
  for (auto& client : clients) client.join();

  // call() asks and waits here, without a future.
  bool errors_as_expected = false;
  try {
    requester.call("rpc.quote", Quote{"durian", 1}, 5s);
  } catch (const courier::RemoteError& error) {  // the service threw
    std::cout << error.what() << '\n';
    try {
      requester.call("rpc.weather", std::string("Oslo"), 5s);
    } catch (const courier::NoResponders& no_server) {  // nobody serves it
      std::cout << no_server.what() << '\n';
      errors_as_expected = true;
    }
  }
  std::cout << "wrong replies: " << wrong << '\n';
  return wrong == 0 && errors_as_expected ? EXIT_SUCCESS : EXIT_FAILURE;
}
