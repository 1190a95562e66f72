#pragma once

namespace Berth::Wsgi {

// The Python half of berth.wsgi, run in the embedded interpreter.
// loadSource: setup_paths() and load_app(), with no dependency on the server, so that
// `berthd check` can run it in a child python3 to try the import.
extern const char *const GlueLoadSource;
// serveSource: run(app, call, environ) (PEP 3333: environ, wsgi.input, start_response, write,
// the result iterable, file_wrapper) and the log streams; needs the _berth module.
extern const char *const GlueServeSource;

} // namespace Berth::Wsgi
