// A real nats-server -js for the bridge's integration tests: on 127.0.0.1, on
// free ports, its store in a temporary directory; started and waited for
// through its /healthz endpoint, stopped with SIGTERM.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <compare>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace courier::nats::test {

// A port nothing listens on now: bind port 0 and read what the kernel gave.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// The reply to GET `path` on 127.0.0.1:port, status line and all (HTTP/1.0:
// the server closes the connection once it has answered); empty if nothing
// answers.
inline std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t got = 0;
      while ((got = ::read(fd, buffer, sizeof buffer)) > 0)
        reply.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  return reply;
}

// True if GET /healthz on 127.0.0.1:port answers 200.
inline bool healthy(int port) {
  const std::string reply = http_get(port, "/healthz");
  return reply.substr(0, reply.find("\r\n")).find(" 200") != std::string::npos;
}

// A server's version, ordered as versions are.
struct ServerVersion {
  int major = 0, minor = 0, patch = 0;
  auto operator<=>(const ServerVersion&) const = default;
};

class NatsServer {
 public:
  NatsServer()
      : port_(free_port()),
        monitor_port_(free_port()),
        store_(std::filesystem::temp_directory_path() /
               ("courier-nats-" + std::to_string(::getpid()) + "-" + std::to_string(port_))) {
    std::filesystem::create_directories(store_);
    start();
  }
  ~NatsServer() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(store_, ignored);
  }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  // The running server's version, from its /varz ("version": "2.9.10").
  ServerVersion version() const {
    const std::string varz = http_get(monitor_port_, "/varz");
    const std::size_t key = varz.find("\"version\":");
    ServerVersion version;
    if (key == std::string::npos ||
        std::sscanf(varz.c_str() + key, "\"version\": \"%d.%d.%d", &version.major, &version.minor,
                    &version.patch) != 3) {
      throw std::runtime_error("nats-server's /varz names no version");
    }
    return version;
  }

  // Starts it (again: the same ports and store); returns once /healthz answers 200.
  void start() {
    const std::string port = std::to_string(port_), monitor = std::to_string(monitor_port_),
                      store = store_.string();
    std::vector<std::string> args = {
        COURIER_NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", port, "-m", monitor, "-sd", store};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int error = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::runtime_error("cannot start " + args[0]);
    // Poll /healthz: a refused connection returns at once, so this is a short
    // connect loop that ends when the server answers, not a fixed sleep.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!healthy(monitor_port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nats-server exited at start");
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("nats-server not healthy");
      std::this_thread::yield();
    }
  }

  // SIGSTOP: the server keeps its connections but reads and answers nothing
  // until resume() (SIGCONT).
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  // SIGTERM, and wait for it to exit (SIGCONT too: a paused server, left so
  // by a failed test, would never act on the SIGTERM).
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::kill(pid_, SIGCONT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  int port_;
  int monitor_port_;
  std::filesystem::path store_;
  pid_t pid_ = -1;
};

}  // namespace courier::nats::test
