/// \file
/// courier: an in-process event bus for multithreaded C++20 programs.
/// Include this for everything; each header below also stands on its own.
#pragma once

/// \namespace courier
/// Everything courier offers users. Its nested namespace courier::detail holds
/// machinery that the templates need, which users never name.

#include "courier/audience.hpp"
#include "courier/errors.hpp"
#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/headers.hpp"
#include "courier/hooks.hpp"
#include "courier/metrics/latency_histogram.hpp"
#include "courier/metrics/prometheus.hpp"
#include "courier/metrics/topic_counts.hpp"
#include "courier/middleware.hpp"
#include "courier/options.hpp"
#include "courier/pipeline/manual_clock.hpp"
#include "courier/pipeline/operators.hpp"
#include "courier/pipeline/pipeline.hpp"
#include "courier/pipeline/subscribe_until.hpp"
#include "courier/pipeline/timeout.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/pipeline/timer_thread.hpp"
#include "courier/pipeline/waiting.hpp"
#include "courier/request_reply/errors.hpp"
#include "courier/request_reply/protocol.hpp"
#include "courier/request_reply/requester.hpp"
#include "courier/request_reply/serve.hpp"
#include "courier/stats.hpp"
#include "courier/stream.hpp"
#include "courier/stream_options.hpp"
#include "courier/subscribe_options.hpp"
#include "courier/subscriber.hpp"
#include "courier/subscription.hpp"
#include "courier/subscription_group.hpp"
#include "courier/topic.hpp"
#include "courier/topic_handle.hpp"
#include "courier/version.hpp"
