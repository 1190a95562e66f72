#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

namespace Berth::Apps {

// berth.session_demo: pyslet's "set your name" sample, to see sessions and CSRF protection
// work in a browser. Needs berth.session before it in the route's pipeline.
//   GET  <mount>/         greets the stored name, or shows a form asking for it
//   POST <mount>/setname  stores the name (form field `name`) and redirects back (303); setting
//                         it the first time establishes the session, so its id changes
//   POST <mount>/logout   ends the session and redirects back
// Every form carries the session's CSRF token in a hidden `csrftoken` field.
class SessionDemoApp final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    void showPage(Http::Exchange &exchange);
    void storeName(Http::Exchange &exchange);
    void logout(Http::Exchange &exchange);
};

void registerSessionDemoApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
