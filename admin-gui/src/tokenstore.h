#pragma once

#include <QString>

namespace Berth::Console {

// Where admin tokens live: the desktop keyring (QtKeychain) when one answers, else a file
// readable only by the user (0600) in the user's config directory. Never QSettings: the server
// list there holds names and URLs only.
class TokenStore
{
public:
    enum class Backend { Automatic, FileOnly };

    // directory: where the fallback file goes (default: the app's config location).
    explicit TokenStore(Backend backend = Backend::Automatic, const QString &directory = {});

    QString token(const QString &server) const;
    bool setToken(const QString &server, const QString &token);
    void removeToken(const QString &server);

    QString fallbackFile() const { return m_file; }
    // "keyring" or "file": where the last token written went.
    QString lastBackend() const { return m_lastBackend; }

private:
    bool keyringWrite(const QString &server, const QString &token);
    bool keyringRead(const QString &server, QString *token) const;
    void keyringRemove(const QString &server);
    QString fileRead(const QString &server) const;
    bool fileWrite(const QString &server, const QString &token);

    Backend m_backend;
    QString m_file;
    QString m_lastBackend;
};

} // namespace Berth::Console
