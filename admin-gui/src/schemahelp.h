#pragma once

#include <QString>
#include <QStringList>

namespace Berth::Console {

// The configuration schema of this version (common/config, the same one berthd validates
// with) as the editor needs it: names to complete and one-line help.
namespace SchemaHelp {

// Section names to offer after '[' ("server", "app:", "routes:line"...).
QStringList sections();
// The keys a section accepts; for [app:*] also the keys of its `call` when given.
QStringList keys(const QString &section, const QString &call = {});
// "type, default X: description" for a key of a section; the section's description when key
// is empty; "" when unknown.
QString help(const QString &section, const QString &key);

} // namespace SchemaHelp

} // namespace Berth::Console
