#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Sessions {

// The open-redirect check for the cookie test's `return` parameter (pyslet's check_redirect).
// `decoded` is the parameter's value after one percent-decoding; scriptName the app's mount.
//
// Returns what may go in Location, or a null QByteArray when the value could send the browser
// anywhere but a page of this app: it must be a path ('/' first) within the mount, with no
// scheme ("http:", "javascript:"), no authority ("//evil.com", and "/\evil.com", which
// browsers read the same way), no control characters or spaces (browsers drop tabs and
// newlines, so "/\t/evil.com" would become "//evil.com"), no dot segments, and nothing that
// turns into one of those when decoded once more (a proxy or framework that decodes again).
// Bytes beyond ASCII are percent-encoded in the result.
QByteArray safeReturnPath(QByteArrayView decoded, QByteArrayView scriptName);

} // namespace Berth::Sessions
