#pragma once

#include "runtime/crashreport.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

namespace Berth::Supervisor {

// Turns the raw frames a child wrote into server.log (module path + ELF offset + build-id, see
// runtime/crashreport.h) into "#3 Berth::Apps::FaultApp::handle(...) at faultapp.cpp:57" lines,
// in the master, after the fact: DWARF is read with libdw (elfutils) from the module files,
// which the master can open at leisure while the child is gone or stopped. A module whose file
// no longer has the build-id the child ran (replaced by an upgrade) is read from an override
// path when one is known (the master's own binary through its kept fd), else left as offsets.
class Symbolizer
{
public:
    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer &) = delete;
    Symbolizer &operator=(const Symbolizer &) = delete;

    // Files to read for a build-id instead of the recorded path.
    void addFile(const QByteArray &buildId, const QString &path);
    QString describe(const Core::RawFrame &frame);
    QStringList describe(const QList<Core::RawFrame> &frames);

private:
    struct Module;
    Module *moduleFor(const Core::RawFrame &frame);

    QHash<QByteArray, QString> m_files;
    QHash<QString, Module *> m_modules; // by path opened
};

// The last block of lines in the file at path that starts with a line beginning with `begin`
// and ends with the line `end` (or the end of the file), looking at the last maxBytes only.
QList<QByteArray> readLastBlock(const QString &path, const QByteArray &begin, const QByteArray &end,
                                qint64 maxBytes = 256 * 1024);

// The symbolised form of the last crash report ("berth crash pid=P ...") or stack dump ("berth
// stack pid=P ...") that process pid wrote into the log at logPath: the request line, then one
// line per frame. Empty when there is none. The master's own binary is read through its kept
// fd, so the names stay right after the file was replaced by an upgrade.
QStringList symbolisedReport(const QString &logPath, pid_t pid, bool crash);

} // namespace Berth::Supervisor
