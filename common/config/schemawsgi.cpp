#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addWsgiSchema(Schema &schema)
{
    // The embedded Python WSGI host (berth.wsgi). A `wsgi:FILE:CALLABLE` route builds the same
    // app with these defaults.
    schema.addApp(AppSpec{
        u"berth.wsgi"_s,
        u"Hosts a Python WSGI app (PEP 3333: Flask, Django, plain callables) in an interpreter "
        u"embedded in each worker process; see wsgi.md."_s,
        {
            required(key(u"module"_s, T::String, QString(),
                         u"The app's module: a file (`/srv/site/app.py`) or a dotted name "
                         u"found on python_path (`site.wsgi`)."_s)),
            key(u"callable"_s, T::String, u"app"_s,
                u"Name of the WSGI callable in the module (dotted for an attribute path)."_s),
            key(u"python_path"_s, T::List, QString(),
                u"Directories put in front of `sys.path`, in order."_s),
            key(u"venv"_s, T::Path, QString(),
                u"A virtualenv made with the same Python (3.11): its site-packages are added to "
                u"`sys.path`."_s),
            range(key(u"wsgi_threads"_s, T::Int, u"8"_s,
                      u"Threads that run the app's code, per worker process."_s),
                  1, 512),
            range(key(u"wsgi_queue"_s, T::Int, u"256"_s,
                      u"Requests that may wait for a thread, per worker process; one that finds "
                      u"the queue full is answered 503 (counted in NAME.wsgi_rejected)."_s),
                  1, 100000),
            key(u"environment"_s, T::List, QString(),
                u"`NAME=VALUE` pairs set in `os.environ` before the app is imported."_s),
        }});
}

} // namespace Berth::Config
