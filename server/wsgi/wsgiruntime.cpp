// Python.h first: it must see no Qt macro (and Qt's keywords are off: QT_NO_KEYWORDS).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "wsgiruntime.h"

#include "wsgicall.h"
#include "wsgiglue.h"

#include "http/requesthead.h"
#include "log/logging.h"
#include "runtime/sharedstate.h"

#include <QHash>
#include <QLoggingCategory>
#include <QProcess>

#include <thread>

#include <csignal>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

// The app's own messages (its logging records, print, wsgi.errors, tracebacks) go to app.log.
Q_LOGGING_CATEGORY(lcWsgi, "berth.app.wsgi")

namespace Berth::Wsgi {

namespace {

// --- the _berth module: what the glue calls ------------------------------------------------

struct CallObject
{
    PyObject_HEAD std::shared_ptr<WsgiCall> *call;
};

void logMessage(int level, const QString &text)
{
    if (level >= 40)
        qCCritical(lcWsgi).noquote() << text;
    else if (level >= 30)
        qCWarning(lcWsgi).noquote() << text;
    else if (level >= 20)
        qCInfo(lcWsgi).noquote() << text;
    else
        qCDebug(lcWsgi).noquote() << text;
}

PyObject *moduleLog(PyObject *, PyObject *args)
{
    int level = 0;
    const char *name = nullptr;
    const char *message = nullptr;
    if (!PyArg_ParseTuple(args, "iss", &level, &name, &message))
        return nullptr;
    logMessage(level, QString::fromUtf8(name) + QStringLiteral(": ") + QString::fromUtf8(message));
    Py_RETURN_NONE;
}

// [(bytes, bytes), ...] -> HeaderList; false with a Python error set.
bool toHeaders(PyObject *list, HeaderList *headers)
{
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "headers must be a list");
        return false;
    }
    const Py_ssize_t count = PyList_GET_SIZE(list);
    headers->reserve(size_t(count));
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject *item = PyList_GET_ITEM(list, i);
        const char *name = nullptr;
        const char *value = nullptr;
        Py_ssize_t nameSize = 0;
        Py_ssize_t valueSize = 0;
        if (!PyArg_ParseTuple(item, "y#y#", &name, &nameSize, &value, &valueSize))
            return false;
        if (!Http::isToken(QByteArrayView(name, nameSize))) {
            PyErr_SetString(PyExc_ValueError, "a header name is not an HTTP token");
            return false;
        }
        for (Py_ssize_t j = 0; j < valueSize; ++j) {
            if (value[j] == '\r' || value[j] == '\n' || value[j] == '\0') {
                PyErr_SetString(PyExc_ValueError, "a header value holds CR, LF or NUL");
                return false;
            }
        }
        headers->emplace_back(QByteArray(name, nameSize), QByteArray(value, valueSize));
    }
    return true;
}

WsgiCall &callOf(PyObject *self)
{
    return **reinterpret_cast<CallObject *>(self)->call;
}

PyObject *callRecv(PyObject *self, PyObject *)
{
    QByteArray chunk;
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS ok = callOf(self).receive(&chunk);
    Py_END_ALLOW_THREADS if (!ok)
    {
        PyErr_SetString(PyExc_OSError, "client disconnected while sending the request body");
        return nullptr;
    }
    return PyBytes_FromStringAndSize(chunk.constData(), chunk.size());
}

PyObject *callStart(PyObject *self, PyObject *args)
{
    int status = 0;
    PyObject *list = nullptr;
    long long length = -1;
    if (!PyArg_ParseTuple(args, "iOL", &status, &list, &length))
        return nullptr;
    HeaderList headers;
    if (!toHeaders(list, &headers))
        return nullptr;
    callOf(self).start(status, std::move(headers), length);
    Py_RETURN_NONE;
}

PyObject *callWrite(PyObject *self, PyObject *args)
{
    const char *data = nullptr;
    Py_ssize_t size = 0;
    if (!PyArg_ParseTuple(args, "y#", &data, &size))
        return nullptr;
    QByteArray copy(data, size);
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS ok = callOf(self).write(std::move(copy));
    Py_END_ALLOW_THREADS return PyBool_FromLong(ok);
}

PyObject *callRespond(PyObject *self, PyObject *args)
{
    int status = 0;
    PyObject *list = nullptr;
    long long length = -1;
    const char *body = nullptr;
    Py_ssize_t size = 0;
    if (!PyArg_ParseTuple(args, "iOLy#", &status, &list, &length, &body, &size))
        return nullptr;
    HeaderList headers;
    if (!toHeaders(list, &headers))
        return nullptr;
    callOf(self).respond(status, std::move(headers), length, QByteArray(body, size));
    Py_RETURN_NONE;
}

PyObject *callSendfile(PyObject *self, PyObject *args)
{
    int status = 0;
    PyObject *list = nullptr;
    int fd = -1;
    long long offset = 0;
    long long length = 0;
    if (!PyArg_ParseTuple(args, "iOiLL", &status, &list, &fd, &offset, &length))
        return nullptr;
    HeaderList headers;
    if (!toHeaders(list, &headers))
        return nullptr;
    callOf(self).sendFile(status, std::move(headers), fd, offset, length);
    Py_RETURN_NONE;
}

PyObject *callFinish(PyObject *self, PyObject *)
{
    callOf(self).finish();
    Py_RETURN_NONE;
}

PyObject *callFail(PyObject *self, PyObject *args)
{
    const char *traceback = nullptr;
    if (!PyArg_ParseTuple(args, "s", &traceback))
        return nullptr;
    WsgiCall &call = callOf(self);
    logMessage(40,
               QStringLiteral("txn %1: the app failed\n%2")
                   .arg(QString::fromLatin1(call.txnId()), QString::fromUtf8(traceback).trimmed()));
    call.fail();
    Py_RETURN_NONE;
}

void callDealloc(PyObject *self)
{
    delete reinterpret_cast<CallObject *>(self)->call;
    PyTypeObject *type = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(type); // a heap type: each instance holds a reference to it
}

PyMethodDef callMethods[] = {
    {"recv", callRecv, METH_NOARGS, nullptr},
    {"start", callStart, METH_VARARGS, nullptr},
    {"write", callWrite, METH_VARARGS, nullptr},
    {"respond", callRespond, METH_VARARGS, nullptr},
    {"sendfile", callSendfile, METH_VARARGS, nullptr},
    {"finish", callFinish, METH_NOARGS, nullptr},
    {"fail", callFail, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot callSlots[] = {
    {Py_tp_dealloc, reinterpret_cast<void *>(callDealloc)},
    {Py_tp_methods, callMethods},
    {0, nullptr},
};

PyType_Spec callSpec = {"_berth.Call", sizeof(CallObject), 0, Py_TPFLAGS_DEFAULT, callSlots};
PyTypeObject *callType = nullptr;

PyMethodDef moduleMethods[] = {
    {"log", moduleLog, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef moduleDef = {PyModuleDef_HEAD_INIT,
                         "_berth",
                         nullptr,
                         -1,
                         moduleMethods,
                         nullptr,
                         nullptr,
                         nullptr,
                         nullptr};

PyObject *initModule()
{
    callType = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&callSpec));
    if (!callType)
        return nullptr;
    return PyModule_Create(&moduleDef);
}

// --- the interpreter ------------------------------------------------------------------------

std::mutex interpreterMutex;
PyObject *glue = nullptr; // the glue's globals (a dict), once the interpreter runs
PyInterpreterState *interpreter = nullptr;

// An error string with the pending Python exception; clears it.
QString pythonError()
{
    PyObject *type = nullptr;
    PyObject *value = nullptr;
    PyObject *trace = nullptr;
    PyErr_Fetch(&type, &value, &trace);
    QString text = QStringLiteral("Python error");
    if (value) {
        if (PyObject *s = PyObject_Str(value)) {
            text = QString::fromUtf8(PyUnicode_AsUTF8(s));
            Py_DECREF(s);
        }
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(trace);
    PyErr_Clear();
    return text;
}

// Initialises the interpreter once per process (interpreterMutex held). Leaves no thread
// holding the GIL.
bool ensureInterpreter(QString *error)
{
    if (glue)
        return true;
    if (PyImport_AppendInittab("_berth", &initModule) < 0) {
        *error = QStringLiteral("cannot register the _berth module");
        return false;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; // signals stay berthd's
    config.parse_argv = 0;
    // sys.executable and the prefix search: the system python3 the app was written for.
    PyConfig_SetBytesString(&config, &config.program_name, BERTH_PYTHON_EXECUTABLE);
    const PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        *error = QStringLiteral("cannot start Python: %1")
                     .arg(QString::fromUtf8(status.err_msg ? status.err_msg : "?"));
        return false;
    }
    PyObject *globals = PyDict_New();
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyDict_SetItemString(globals, "__name__", PyUnicode_FromString("berth_wsgi"));
    bool ok = true;
    for (const char *source : {GlueLoadSource, GlueServeSource}) {
        PyObject *result = PyRun_String(source, Py_file_input, globals, globals);
        if (!result) {
            *error = QStringLiteral("berth.wsgi glue: %1").arg(pythonError());
            ok = false;
            break;
        }
        Py_DECREF(result);
    }
    if (ok) {
        PyObject *install = PyDict_GetItemString(globals, "install_logging");
        PyObject *result = install ? PyObject_CallNoArgs(install) : nullptr;
        if (!result) {
            *error = QStringLiteral("berth.wsgi glue: %1").arg(pythonError());
            ok = false;
        }
        Py_XDECREF(result);
    }
    interpreter = PyInterpreterState_Get();
    glue = globals;
    PyEval_SaveThread(); // the GIL goes to whichever thread needs it
    return ok;
}

PyObject *stringList(const QStringList &list)
{
    PyObject *result = PyList_New(list.size());
    for (qsizetype i = 0; i < list.size(); ++i)
        PyList_SET_ITEM(result, i, PyUnicode_FromString(list[i].toUtf8().constData()));
    return result;
}

QHash<QString, WsgiRuntime *> &runtimes()
{
    static auto *all = new QHash<QString, WsgiRuntime *>; // outlives every thread: never freed
    return *all;
}

} // namespace

WsgiRuntime *WsgiRuntime::acquire(const QString &name, const WsgiOptions &options, QString *error)
{
    std::lock_guard lock(interpreterMutex);
    if (WsgiRuntime *runtime = runtimes().value(name))
        return runtime;
    if (!ensureInterpreter(error))
        return nullptr;
    const PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *load = PyDict_GetItemString(glue, "try_load");
    PyObject *result =
        PyObject_CallFunction(load, "ssNsN", options.module.toUtf8().constData(),
                              options.callable.toUtf8().constData(), stringList(options.pythonPath),
                              options.venv.toUtf8().constData(), stringList(options.environment));
    PyObject *app = nullptr;
    if (!result) {
        *error = pythonError();
    } else if (PyTuple_GET_ITEM(result, 0) == Py_None) {
        *error = QString::fromUtf8(PyUnicode_AsUTF8(PyTuple_GET_ITEM(result, 1))).trimmed();
    } else {
        app = PyTuple_GET_ITEM(result, 0);
        Py_INCREF(app);
    }
    Py_XDECREF(result);
    PyGILState_Release(gil);
    if (!app)
        return nullptr;
    auto *runtime = new WsgiRuntime(app, options);
    runtimes().insert(name, runtime);
    for (int i = 0; i < options.threads; ++i)
        std::thread([runtime] { runtime->runThread(); }).detach();
    if (options.hangTimeoutMs > 0)
        std::thread([runtime] { runtime->watchHangs(); }).detach();
    return runtime;
}

WsgiRuntime::WsgiRuntime(void *app, const WsgiOptions &options)
    : m_app(app)
    , m_options(options)
    , m_busy(new Busy[size_t(options.threads)])
{}

void WsgiRuntime::watchHangs()
{
    for (;;) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const qint64 now = Core::monotonicMs();
        for (int i = 0; i < m_options.threads; ++i) {
            const qint64 started = m_busy[i].startedMs.load(std::memory_order_acquire);
            if (started == 0 || now - started <= m_options.hangTimeoutMs)
                continue;
            QByteArray txn;
            {
                std::lock_guard lock(m_mutex);
                txn = m_busy[i].txnId;
            }
            logMessage(50, QStringLiteral("txn %1: the app has run for %2 s (worker_timeout); "
                                          "replacing this worker")
                               .arg(QString::fromLatin1(txn))
                               .arg(double(now - started) / 1000.0, 0, 'f', 1));
            Log::Logging::flushAll();
            // The Python stacks, when the GIL can be had (a thread stuck in C holding it
            // would block this forever: the line above is already written).
            const PyGILState_STATE gil = PyGILState_Ensure();
            PyObject *result =
                PyRun_String("'\\n'.join(''.join(__import__('traceback').format_stack(f)) "
                             "for f in __import__('sys')._current_frames().values())",
                             Py_eval_input, glue, glue);
            if (result && PyUnicode_Check(result))
                logMessage(50, QStringLiteral("Python stacks:\n") +
                                   QString::fromUtf8(PyUnicode_AsUTF8(result)));
            Py_XDECREF(result);
            PyErr_Clear();
            PyGILState_Release(gil);
            Log::Logging::flushAll();
            ::kill(::getpid(), SIGKILL);
        }
    }
}

bool WsgiRuntime::submit(std::shared_ptr<WsgiCall> call)
{
    {
        std::lock_guard lock(m_mutex);
        if (qsizetype(m_queue.size()) >= m_options.queueCapacity)
            return false;
        m_queue.push_back(std::move(call));
    }
    m_wake.notify_one();
    return true;
}

void WsgiRuntime::runThread()
{
    Busy &busy = m_busy[m_nextThread.fetch_add(1)];
    PyThreadState *state = PyThreadState_New(interpreter);
    PyObject *run = nullptr;
    for (;;) {
        std::shared_ptr<WsgiCall> call;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return !m_queue.empty(); });
            call = std::move(m_queue.front());
            m_queue.pop_front();
            busy.txnId = call->txnId();
        }
        if (!call->alive())
            continue; // the client left while the request waited
        busy.startedMs.store(Core::monotonicMs(), std::memory_order_release);
        PyEval_RestoreThread(state);
        if (!run)
            run = PyDict_GetItemString(glue, "run");
        PyObject *environ = PyDict_New();
        for (const auto &[name, value] : call->environ()) {
            PyObject *text = PyUnicode_DecodeLatin1(value.constData(), value.size(), nullptr);
            PyDict_SetItemString(environ, name.constData(), text);
            Py_DECREF(text);
        }
        auto *object = PyObject_New(CallObject, callType);
        object->call = new std::shared_ptr<WsgiCall>(call);
        PyObject *result = PyObject_CallFunctionObjArgs(run, static_cast<PyObject *>(m_app), object,
                                                        environ, nullptr);
        if (!result) {
            logMessage(40, QStringLiteral("txn %1: %2")
                               .arg(QString::fromLatin1(call->txnId()), pythonError()));
            call->fail();
        }
        Py_XDECREF(result);
        Py_DECREF(reinterpret_cast<PyObject *>(object));
        Py_DECREF(environ);
        PyEval_SaveThread();
        busy.startedMs.store(0, std::memory_order_release);
    }
}

bool checkImport(const WsgiOptions &options, const QString &user, const QString &group,
                 QString *error)
{
    // Resolved here: the child, between fork and exec, may only make async-signal-safe calls.
    uid_t uid = 0;
    gid_t gid = 0;
    const bool switchUser = ::geteuid() == 0 && !user.isEmpty();
    if (switchUser) {
        const passwd *pw = ::getpwnam(user.toLocal8Bit().constData());
        if (!pw) {
            *error = QStringLiteral("unknown user '%1' ([server] user)").arg(user);
            return false;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (!group.isEmpty()) {
            const ::group *gr = ::getgrnam(group.toLocal8Bit().constData());
            if (!gr) {
                *error = QStringLiteral("unknown group '%1' ([server] group)").arg(group);
                return false;
            }
            gid = gr->gr_gid;
        }
    }
    const QString script =
        QString::fromUtf8(GlueLoadSource) +
        QStringLiteral("\nimport json\n"
                       "a = json.loads(sys.argv[1])\n"
                       "app, failure = try_load(a['module'], a['callable'], a['python_path'], "
                       "a['venv'], a['environment'])\n"
                       "if failure:\n"
                       "    sys.stderr.write(failure)\n"
                       "    sys.exit(3)\n");
    const auto quoted = [](const QStringList &list) {
        QStringList out;
        for (const QString &item : list) {
            QString s = item;
            s.replace(u'\\', QStringLiteral("\\\\")).replace(u'"', QStringLiteral("\\\""));
            out.append(u'"' + s + u'"');
        }
        return u'[' + out.join(u',') + u']';
    };
    const QString arguments =
        QStringLiteral("{\"module\":%1,\"callable\":%2,\"python_path\":%3,"
                       "\"venv\":%4,\"environment\":%5}")
            .arg(quoted({options.module}).mid(1).chopped(1),
                 quoted({options.callable}).mid(1).chopped(1), quoted(options.pythonPath),
                 quoted({options.venv}).mid(1).chopped(1), quoted(options.environment));
    QProcess child;
    child.setProcessChannelMode(QProcess::SeparateChannels);
    if (switchUser) {
        child.setChildProcessModifier([uid, gid] {
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
                ::_exit(126); // never run the app's code as root
        });
    }
    child.start(QStringLiteral(BERTH_PYTHON_EXECUTABLE), {QStringLiteral("-c"), script, arguments});
    if (!child.waitForStarted(10000)) {
        *error = QStringLiteral("cannot run %1 to check the import: %2")
                     .arg(QStringLiteral(BERTH_PYTHON_EXECUTABLE), child.errorString());
        return false;
    }
    child.closeWriteChannel();
    if (!child.waitForFinished(60000)) {
        child.kill();
        child.waitForFinished(1000);
        *error = QStringLiteral("importing the app took over 60 s");
        return false;
    }
    if (child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0)
        return true;
    *error = QString::fromUtf8(child.readAllStandardError()).trimmed();
    if (error->isEmpty() && child.exitCode() == 126 && switchUser)
        *error = QStringLiteral("the import check could not switch to user '%1'").arg(user);
    else if (error->isEmpty())
        *error = QStringLiteral("the import check exited with code %1").arg(child.exitCode());
    return false;
}

} // namespace Berth::Wsgi
