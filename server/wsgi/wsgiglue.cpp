#include "wsgiglue.h"

namespace Berth::Wsgi {

// Written in Python because it is the app's side of the protocol (types, iteration, exceptions
// the app sees); the C++ side (the _berth module) only moves bytes between threads.
const char *const GlueLoadSource = R"PY(
import importlib, os, site, sys, traceback

def setup_paths(python_path, venv, environment):
    for pair in environment:
        name, _, value = pair.partition('=')
        if name.strip():
            os.environ[name.strip()] = value.strip()
    if venv:
        packages = os.path.join(venv, 'lib', 'python%d.%d' % sys.version_info[:2],
                                'site-packages')
        if not os.path.isdir(packages):
            raise ImportError('venv %s has no %s (made with another Python?)' % (venv, packages))
        site.addsitedir(packages)
    for path in reversed(python_path):
        if path not in sys.path:
            sys.path.insert(0, path)

def load_app(module, name):
    if module.endswith('.py') or '/' in module:
        path = module if module.endswith('.py') else module + '.py'
        if not os.path.isfile(path):
            raise ImportError('no such file: %s' % path)
        folder, base = os.path.split(os.path.abspath(path))
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module = base[:-3]
    found = importlib.import_module(module)
    for part in name.split('.'):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError('%s:%s is not callable' % (module, name))
    return found

def try_load(module, name, python_path, venv, environment):
    try:
        setup_paths(python_path, venv, environment)
        return load_app(module, name), None
    except BaseException:
        return None, traceback.format_exc()
)PY";

const char *const GlueServeSource = R"PY(
import logging, os, stat, threading
import _berth

_HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-authenticate',
                         'proxy-authorization', 'te', 'trailers', 'transfer-encoding',
                         'upgrade'))

class LogStream:
    """wsgi.errors, sys.stdout and sys.stderr: lines to app.log."""
    def __init__(self, name, level):
        self._name, self._level = name, level
        self._pending = threading.local()
    def write(self, text):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode('utf-8', 'replace')
        pending = getattr(self._pending, 'text', '') + text
        *lines, rest = pending.split('\n')
        for line in lines:
            _berth.log(self._level, self._name, line)
        self._pending.text = rest
        return len(text)
    def writelines(self, lines):
        for line in lines:
            self.write(line)
    def flush(self):
        rest = getattr(self._pending, 'text', '')
        if rest:
            self._pending.text = ''
            _berth.log(self._level, self._name, rest)
    def isatty(self):
        return False
    def writable(self):
        return True

class LogHandler(logging.Handler):
    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        _berth.log(record.levelno, record.name, message)

ERRORS = LogStream('wsgi.errors', logging.ERROR)

def install_logging():
    import sys
    sys.stdout = LogStream('stdout', logging.INFO)
    sys.stderr = LogStream('stderr', logging.WARNING)
    logging.getLogger().addHandler(LogHandler())

class Input:
    """wsgi.input: the request body as it arrives, never buffered whole."""
    def __init__(self, call):
        self._call = call
        self._buffer = bytearray()
        self._eof = False
    def _fill(self):
        if self._eof:
            return False
        chunk = self._call.recv()
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True
    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill():
                pass
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        if not self._buffer and not self._eof:
            chunk = self._call.recv()
            if not chunk:
                self._eof = True
                return b''
            if len(chunk) == size:
                return chunk
            self._buffer += chunk
        while len(self._buffer) < size and self._fill():
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
    def readline(self, size=-1):
        start = 0
        while True:
            end = self._buffer.find(b'\n', start)
            if end >= 0:
                end += 1
                break
            if size is not None and 0 <= size <= len(self._buffer):
                break
            start = len(self._buffer)
            if not self._fill():
                end = len(self._buffer)
                break
        if size is not None and size >= 0:
            end = min(end if end >= 0 else len(self._buffer), size)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data
    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines
    def __iter__(self):
        return self
    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

class FileWrapper:
    """wsgi.file_wrapper: served with sendfile when it wraps a regular file."""
    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close
    def __iter__(self):
        return self
    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

def _sendfile_range(wrapper, length):
    """(fd, offset, length) of a FileWrapper around a regular file, or None."""
    try:
        fd = wrapper.filelike.fileno()
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        offset = wrapper.filelike.tell() if hasattr(wrapper.filelike, 'tell') else 0
    except Exception:
        return None
    size = max(0, info.st_size - offset)
    if length is not None:
        size = min(size, length)
    return os.dup(fd), offset, size

class HopByHopHeader(Exception):
    pass

def run(app, call, environ):
    environ['wsgi.version'] = (1, 0)
    environ['wsgi.input'] = Input(call)
    environ['wsgi.errors'] = ERRORS
    environ['wsgi.multithread'] = True
    environ['wsgi.multiprocess'] = True
    environ['wsgi.run_once'] = False
    environ['wsgi.input_terminated'] = True
    environ['wsgi.file_wrapper'] = FileWrapper
    state = [None, None, False, None]  # status, headers, head sent, content length

    def head():
        status, headers = state[0], state[1]
        code = int(status.split(' ', 1)[0])
        fields = []
        length = None
        for name, value in headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                raise HopByHopHeader('the app sent the hop-by-hop header %r' % name)
            if lower == 'content-length':
                length = int(value)
                continue
            fields.append((name.encode('latin-1'), value.encode('latin-1')))
        return code, fields, length

    def send_head():
        code, fields, length = head()
        call.start(code, fields, -1 if length is None else length)
        state[2] = True

    def write(data):
        if state[0] is None:
            raise AssertionError('write() before start_response()')
        if type(data) is not bytes:
            raise TypeError('write() takes bytes, not %s' % type(data).__name__)
        if not state[2]:
            send_head()
        if data and not call.write(data):
            raise OSError('client disconnected')

    def start_response(status, headers, exc_info=None):
        if exc_info:
            try:
                if state[2]:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state[0] is not None:
            raise AssertionError('start_response() called twice without exc_info')
        if type(status) is not str or len(status) < 4 or not status[:3].isdigit():
            raise AssertionError('bad status %r' % (status,))
        if type(headers) is not list:
            raise AssertionError('headers must be a list, not %s' % type(headers).__name__)
        for field in headers:
            if type(field) is not tuple or len(field) != 2 or type(field[0]) is not str \
                    or type(field[1]) is not str:
                raise AssertionError('bad header %r' % (field,))
        state[0], state[1] = status, headers
        return write

    result = None
    try:
        result = app(environ, start_response)
        if isinstance(result, FileWrapper) and not state[2] and state[0] is not None:
            code, fields, length = head()
            found = _sendfile_range(result, length)
            if found is not None:
                state[2] = True
                call.sendfile(code, fields, *found)
                return
        if isinstance(result, (list, tuple)) and not state[2]:
            if state[0] is None:
                raise AssertionError('the app returned without calling start_response()')
            for chunk in result:
                if type(chunk) is not bytes:
                    raise TypeError('the app returned %s, not bytes' % type(chunk).__name__)
            code, fields, length = head()
            state[2] = True
            call.respond(code, fields, -1 if length is None else length, b''.join(result))
            return
        for chunk in result:
            if type(chunk) is not bytes:
                raise TypeError('the app yielded %s, not bytes' % type(chunk).__name__)
            if not chunk:
                continue
            if not state[2]:
                send_head()
            if not call.write(chunk):
                return  # the client left: close() below
        if not state[2]:
            if state[0] is None:
                raise AssertionError('the app returned without calling start_response()')
            code, fields, length = head()
            state[2] = True
            call.respond(code, fields, -1 if length is None else length, b'')
            return
        call.finish()
    except BaseException:
        call.fail(traceback.format_exc())
    finally:
        close = getattr(result, 'close', None)
        if close is not None:
            try:
                close()
            except BaseException:
                call.fail(traceback.format_exc())
)PY";

} // namespace Berth::Wsgi
