#include "courier/event_bus.hpp"

#include <gtest/gtest.h>

#include <latch>

namespace {

TEST(EventBus, Smoke) {
  courier::EventBus bus(courier::Options{.threads = 2});
  std::latch done(3);
  bus.subscribe<int>("a.*", [&](const courier::Event<int>&) { done.count_down(); });
  for (int i = 0; i < 3; ++i) bus.post(courier::Event<int>("a.b", i));
  done.wait();
  bus.shutdown();
  EXPECT_EQ(bus.stats().delivered, 3u);
}

}  // namespace
