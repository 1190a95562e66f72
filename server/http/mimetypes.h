#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>

namespace Berth::Http {

// The Content-Type for a file name, from a built-in table of the common web extensions
// (what nginx's mime.types covers for sites). The extension is matched case-insensitively;
// text types carry "; charset=utf-8". Unknown or missing extensions, and dotfiles without
// one (".bashrc"), give "application/octet-stream". The view refers to static storage.
// Entries installed by installMimeTypes() are looked up first.
QByteArrayView mimeTypeForPath(QByteArrayView path);

// Extension (lower case, no dot) -> Content-Type.
using MimeTypeMap = QHash<QByteArray, QByteArray>;

// The mime.types format of /etc/mime.types (Debian's mime-support, Apache): one
// `type/subtype ext ext...` per line, `#` starts a comment, a type without extensions adds
// nothing. Extensions are lower-cased; a later line wins for the same extension. text/* types
// without parameters get "; charset=utf-8", as the built-in ones. *badLine (when given) is the
// 1-based number of the first line that is not of that form, 0 when there is none.
MimeTypeMap parseMimeTypes(QByteArrayView text, int *badLine = nullptr);

// Makes mimeTypeForPath() look in entries before its built-in table, or instead of it when
// builtin is false (replacing what an earlier call installed). Safe while other threads look types
// up: the table is published with release ordering and read with acquire ordering; a replaced table
// is never freed (one per reload), so a lookup that raced the replacement keeps a valid view.
void installMimeTypes(const MimeTypeMap &entries, bool builtin = true);

} // namespace Berth::Http

namespace Berth::Config {
class Config;
}

namespace Berth::Http {

// [server] mime_types: reads the file the configuration names (nothing when unset); a file that
// can't be read, or a malformed line, is an error diagnostic at file:line on config. With
// install, the entries are installed (installMimeTypes), an empty table when unset; without the
// built-in table when [server] mime_types_builtin is no.
bool loadMimeTypes(const Config::Config &config, bool install);

} // namespace Berth::Http
