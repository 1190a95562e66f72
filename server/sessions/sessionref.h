#pragma once

#include "http/request.h"

#include <memory>

namespace Berth::Sessions {

class Session;

// The request attribute berth.session leaves for the apps after it (see
// Http::RequestAttributes): the request's session, owned by the exchange. The engine clears the
// slot when the exchange ends, so the session is released with it (response complete, aborted
// or connection closed), not when the next request starts, and also lives for apps that
// complete the exchange later.
struct SessionRef
{
    std::shared_ptr<Session> session;
};

// The request's session, or null when no berth.session ran before (or it passed none).
inline Session *sessionOf(const Http::Request &request)
{
    const SessionRef *ref = request.attributes.get<SessionRef>();
    return ref ? ref->session.get() : nullptr;
}

} // namespace Berth::Sessions
