#pragma once

#include <QByteArrayView>

namespace Berth::Http {

// The Content-Type for a file name, from a built-in table of the common web extensions
// (what nginx's mime.types covers for sites). The extension is matched case-insensitively;
// text types carry "; charset=utf-8". Unknown or missing extensions, and dotfiles without
// one (".bashrc"), give "application/octet-stream". The view refers to static storage.
QByteArrayView mimeTypeForPath(QByteArrayView path);

} // namespace Berth::Http
