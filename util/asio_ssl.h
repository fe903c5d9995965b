// util/asio_ssl.h: Boost.Asio and Beast with TLS (OpenSSL), for the code
// that serves or speaks TLS; link OpenSSL::SSL.
#pragma once

#include "util/asio.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
