#pragma once

#include <QObject>

#include <functional>

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

// Makes a connection to one server, owned by parent. A server tab opens several (the stats
// stream, a log follow and the timeline's own reads each need their own), all to the same
// server; tests hand out fakes.
using ConnectionFactory = std::function<Client::AdminConnection *(QObject *parent)>;

} // namespace Berth::Console
