#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Http {

// Normalises a raw request path once, before routing and file lookup (nginx's and Envoy's
// normalize_path): percent-decodes (%2F too), merges "//", resolves "." and "..". Returns false
// (-> 400) for a path that does not start with '/', invalid or NUL escapes (%00, %zz), control
// bytes, or ".." that would climb above the root.
bool normalizePath(QByteArrayView rawPath, QByteArray &out);

} // namespace Berth::Http
