#include "admintokens.h"

#include "runtime/sharedstate.h"

#include <QCryptographicHash>
#include <QFile>
#include <QRandomGenerator>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Berth::Admin {

QString scopeName(Scope scope)
{
    return scope == Scope::Admin ? QStringLiteral("admin") : QStringLiteral("read");
}

namespace {

QByteArray digestOf(QByteArrayView token)
{
    return QCryptographicHash::hash(token, QCryptographicHash::Sha256);
}

// Both are SHA-256 digests (32 bytes): the time taken does not depend on where they differ.
bool sameDigest(const QByteArray &a, const QByteArray &b)
{
    if (a.size() != b.size())
        return false;
    unsigned char difference = 0;
    for (qsizetype i = 0; i < a.size(); ++i)
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    return difference == 0;
}

QByteArray randomToken()
{
    QByteArray bytes(32, Qt::Uninitialized);
    for (char &c : bytes)
        c = char(QRandomGenerator::system()->bounded(256));
    return bytes.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

} // namespace

bool TokenStore::parse(const QByteArray &text, QString *error)
{
    m_tokens.clear();
    const QList<QByteArray> lines = text.split('\n');
    for (int i = 0; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        const QList<QByteArray> fields = line.simplified().split(' ');
        if (fields.size() < 2 || (fields[1] != "read" && fields[1] != "admin")) {
            *error = QStringLiteral("line %1: expected TOKEN read|admin [LABEL]").arg(i + 1);
            return false;
        }
        if (fields[0].size() < 16) {
            *error = QStringLiteral("line %1: a token has at least 16 characters").arg(i + 1);
            return false;
        }
        Token token;
        token.digest = digestOf(fields[0]);
        token.scope = fields[1] == "admin" ? Scope::Admin : Scope::Read;
        token.label = fields.size() > 2 ? QString::fromUtf8(fields.mid(2).join(' '))
                                        : QStringLiteral("line %1").arg(i + 1);
        m_tokens.append(token);
    }
    return true;
}

bool TokenStore::load(const QString &path, bool *created, QString *error)
{
    *created = false;
    QFile file(path);
    if (!file.exists()) {
        const QByteArray path8 = QFile::encodeName(path);
        const int fd = ::open(path8.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            *error = QStringLiteral("cannot create %1: %2").arg(path, qt_error_string(errno));
            return false;
        }
        const QByteArray text = "# berthd admin API tokens: TOKEN read|admin [LABEL]\n" +
                                randomToken() + " admin initial\n";
        const bool written = ::write(fd, text.constData(), size_t(text.size())) == text.size();
        ::close(fd);
        if (!written) {
            *error = QStringLiteral("cannot write %1").arg(path);
            return false;
        }
        *created = true;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return false;
    }
    QString problem;
    if (!parse(file.readAll(), &problem)) {
        *error = QStringLiteral("%1: %2").arg(path, problem);
        return false;
    }
    return true;
}

const Token *TokenStore::find(QByteArrayView presented) const
{
    if (presented.isEmpty())
        return nullptr;
    const QByteArray digest = digestOf(presented);
    const Token *match = nullptr;
    for (const Token &token : m_tokens) {
        // Every token is compared, so the time does not tell which one (or whether one) matched.
        if (sameDigest(token.digest, digest) && !match)
            match = &token;
    }
    return match;
}

FailureLimiter::FailureLimiter(int perMinute, Clock clock)
    : m_limit(perMinute)
    , m_clock(clock ? std::move(clock) : Clock([] { return qint64(Core::monotonicMs()); }))
{}

void FailureLimiter::prune(QList<qint64> &times, qint64 now) const
{
    while (!times.isEmpty() && now - times.front() >= 60'000)
        times.removeFirst();
}

bool FailureLimiter::blocked(const QString &client)
{
    auto it = m_failures.find(client);
    if (it == m_failures.end())
        return false;
    prune(*it, m_clock());
    if (it->isEmpty()) {
        m_failures.erase(it);
        return false;
    }
    return it->size() >= m_limit;
}

void FailureLimiter::recordFailure(const QString &client)
{
    if (m_failures.size() > 10'000) // a flood from many addresses: forget the oldest state
        m_failures.clear();
    QList<qint64> &times = m_failures[client];
    prune(times, m_clock());
    times.append(m_clock());
}

} // namespace Berth::Admin
