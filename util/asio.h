// util/asio.h: the one way into Boost.Asio and Beast for this project.
//
// Boost 1.74's boost/asio/awaitable.hpp uses std::exchange without including
// <utility>; including it first here keeps every translation unit correct
// whatever its include order. Include this instead of any Boost.Asio header.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace edocgw {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace edocgw
