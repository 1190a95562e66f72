#include "commandoutput.h"

#include <QByteArray>

namespace Berth::Cli {

void printLine(FILE *stream, const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
}

int reportUsageError(const char *command, const char *usage, const QString &message)
{
    reportFailure(command, message);
    std::fputs(usage, stderr);
    return 2;
}

int reportFailure(const char *command, const QString &message)
{
    printLine(stderr, QStringLiteral("berthd %1: %2").arg(QLatin1String(command), message));
    return 1;
}

} // namespace Berth::Cli
