#include "symbolizer.h"

#include "runtime/processutil.h"

#include <QFile>

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>

namespace Berth::Supervisor {

namespace {

const Dwfl_Callbacks OfflineCallbacks = {
    dwfl_build_id_find_elf,
    dwfl_standard_find_debuginfo,
    dwfl_offline_section_address,
    nullptr,
};

QString demangle(const char *name)
{
    int status = 0;
    char *plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status != 0 || !plain)
        return QString::fromUtf8(name);
    QString text = QString::fromUtf8(plain);
    std::free(plain);
    return text;
}

QByteArray buildIdOf(Dwfl_Module *module)
{
    const unsigned char *bits = nullptr;
    GElf_Addr vaddr = 0;
    const int length = dwfl_module_build_id(module, &bits, &vaddr);
    if (length <= 0)
        return {};
    // The child records at most 20 bytes.
    return QByteArray(reinterpret_cast<const char *>(bits), qMin(length, 20)).toHex();
}

} // namespace

struct Symbolizer::Module
{
    Dwfl *dwfl = nullptr;
    Dwfl_Module *module = nullptr;
    QByteArray buildId;
};

Symbolizer::Symbolizer() = default;

Symbolizer::~Symbolizer()
{
    for (Module *m : std::as_const(m_modules)) {
        if (m->dwfl)
            dwfl_end(m->dwfl);
        delete m;
    }
}

void Symbolizer::addFile(const QByteArray &buildId, const QString &path)
{
    if (!buildId.isEmpty())
        m_files.insert(buildId, path);
}

Symbolizer::Module *Symbolizer::moduleFor(const Core::RawFrame &frame)
{
    QString path = m_files.value(frame.buildId);
    if (path.isEmpty()) {
        path = frame.module;
        // /proc/PID/exe of a file replaced since: the name it had, which may hold a new build.
        if (path.endsWith(QLatin1String(" (deleted)")))
            path.chop(10);
    }
    if (path.isEmpty())
        return nullptr;
    if (Module *known = m_modules.value(path))
        return known;
    auto *m = new Module;
    m_modules.insert(path, m);
    m->dwfl = dwfl_begin(&OfflineCallbacks);
    if (!m->dwfl)
        return m;
    // Bias 0: addresses are the ELF virtual addresses the child recorded.
    const QByteArray file = QFile::encodeName(path);
    m->module = dwfl_report_elf(m->dwfl, file.constData(), file.constData(), -1, 0, false);
    dwfl_report_end(m->dwfl, nullptr, nullptr);
    if (m->module)
        m->buildId = buildIdOf(m->module);
    return m;
}

QString Symbolizer::describe(const Core::RawFrame &frame)
{
    const QString where = frame.resolved
                              ? QStringLiteral("%1+0x%2").arg(frame.module).arg(frame.offset, 0, 16)
                              : QStringLiteral("0x%1").arg(quint64(frame.address), 0, 16);
    const QString prefix = QStringLiteral("#%1 ").arg(frame.index);
    Module *m = frame.resolved ? moduleFor(frame) : nullptr;
    if (!m || !m->module)
        return prefix + where;
    if (!frame.buildId.isEmpty() && !m->buildId.isEmpty() && frame.buildId != m->buildId)
        return prefix + where + QStringLiteral(" (the file now holds another build)");
    // A return address points after the call: look up the call itself.
    const GElf_Addr address = frame.index > 0 && frame.offset > 0 ? frame.offset - 1 : frame.offset;
    GElf_Off offset = 0;
    GElf_Sym symbol;
    const char *name =
        dwfl_module_addrinfo(m->module, address, &offset, &symbol, nullptr, nullptr, nullptr);
    QString text = prefix + (name ? demangle(name) : QStringLiteral("??"));
    if (Dwfl_Line *line = dwfl_module_getsrc(m->module, address)) {
        int lineNumber = 0;
        const char *source = dwfl_lineinfo(line, nullptr, &lineNumber, nullptr, nullptr, nullptr);
        if (source)
            text += QStringLiteral(" at %1:%2").arg(QString::fromUtf8(source)).arg(lineNumber);
    }
    return text + QStringLiteral(" (%1)").arg(where);
}

QStringList Symbolizer::describe(const QList<Core::RawFrame> &frames)
{
    QStringList lines;
    for (const Core::RawFrame &frame : frames)
        lines.append(describe(frame));
    return lines;
}

QList<QByteArray> readLastBlock(const QString &path, const QByteArray &begin, const QByteArray &end,
                                qint64 maxBytes)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    const qint64 size = file.size();
    if (size > maxBytes)
        file.seek(size - maxBytes);
    const QByteArray tail = file.readAll();
    // Other processes write server.log too; a line of the block starts a line of the file.
    const qsizetype at = tail.lastIndexOf("\n" + begin);
    qsizetype from = 0;
    if (at >= 0)
        from = at + 1;
    else if (!tail.startsWith(begin))
        return {};
    QList<QByteArray> lines;
    for (const QByteArray &line : tail.mid(from).split('\n')) {
        if (!line.startsWith("berth "))
            continue; // another process' line in between
        lines.append(line);
        if (line == end)
            break;
    }
    return lines;
}

QStringList symbolisedReport(const QString &logPath, pid_t pid, bool crash)
{
    if (logPath.isEmpty())
        return {};
    const QByteArray kind = crash ? "berth crash" : "berth stack";
    const QList<QByteArray> block =
        readLastBlock(logPath, kind + " pid=" + QByteArray::number(pid) + " ", kind + " end");
    if (block.isEmpty())
        return {};
    QStringList lines;
    for (const QByteArray &line : block) {
        if (line.startsWith("berth request "))
            lines.append(QStringLiteral("request ") + QString::fromUtf8(line.mid(14)));
    }
    Symbolizer symbolizer;
    const QList<Core::LoadedModule> own = Core::loadedModules();
    if (!own.isEmpty() && Core::selfExecutableFd() >= 0)
        symbolizer.addFile(QByteArray(own.front().buildId),
                           QStringLiteral("/proc/self/fd/%1").arg(Core::selfExecutableFd()));
    lines += symbolizer.describe(Core::parseFrames(block));
    return lines;
}

} // namespace Berth::Supervisor
