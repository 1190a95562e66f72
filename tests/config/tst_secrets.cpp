// Unit tests for Config::getSecret (KEY or KEY_file, $CREDENTIALS_DIRECTORY) and checkSecrets
// (the world-readable warning), and the KEY_file keys the schema adds beside every secret.

#include "config/config.h"
#include "config/secrets.h"
#include "confighelpers.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Config;
using namespace ConfigTest;
using namespace Qt::StringLiterals;

class tst_Secrets : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void schemaAddsFileKeys();
    void inlineValue();
    void fileValueDropsOneLineBreak();
    void relativeFileInCredentialsDirectory();
    void relativeFileWithoutCredentialsDirectory();
    void unreadableFileIsAnErrorAtItsLine();
    void bothSetIsAnError();
    void emptyFileIsAnError();
    void worldReadableInlineSecretWarns();

private:
    static Config load(const QString &path)
    {
        Config config = Config::load({path});
        config.setSchema(&schema());
        return config;
    }
    static const Schema &schema()
    {
        static const Schema s = [] {
            KeySpec secret = keySpec(u"secret"_s, ValueType::String, QString());
            secret.secret = true;
            return testSchema({secret});
        }();
        return s;
    }
};

void tst_Secrets::schemaAddsFileKeys()
{
    const KeySpec *file = schema().findSection(u"s"_s)->findKey(u"secret_file"_s);
    QVERIFY(file);
    QCOMPARE(file->type, ValueType::Path);
    // The built-in schema: every secret string key has its file key.
    for (const auto &[section, key] : {std::pair{u"sessions"_s, u"secret_file"_s},
                                       {u"tls"_s, u"passphrase_file"_s},
                                       {u"tls:*"_s, u"passphrase_file"_s},
                                       {u"mailer"_s, u"password_file"_s}}) {
        const SectionSpec *spec = Schema::builtin().findSection(section);
        QVERIFY2(spec && spec->findKey(key), qPrintable(section + u' ' + key));
    }
}

void tst_Secrets::inlineValue()
{
    QTemporaryDir dir;
    const Config config = load(writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret = abc\n"_s));
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), u"abc"_s);
    QCOMPARE(messages(config.diagnostics()), QStringList());
}

void tst_Secrets::fileValueDropsOneLineBreak()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(u"key"_s), u"  spaced secret \r\n"_s);
    const Config config = load(writeFile(dir.filePath(u"a.conf"_s),
                                         u"[s]\nsecret_file = %1\n"_s.arg(dir.filePath(u"key"_s))));
    // Only the line break goes: spaces may be part of a passphrase.
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), u"  spaced secret "_s);
    QCOMPARE(messages(config.diagnostics()), QStringList());
}

void tst_Secrets::relativeFileInCredentialsDirectory()
{
    QTemporaryDir dir;
    QTemporaryDir credentials;
    writeFile(credentials.filePath(u"sess"_s), u"from-systemd\n"_s);
    writeFile(dir.filePath(u"sess"_s), u"from-config-dir\n"_s);
    EnvironmentOverride env("CREDENTIALS_DIRECTORY", credentials.path().toUtf8());
    const Config config =
        load(writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret_file = sess\n"_s));
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), u"from-systemd"_s);
}

void tst_Secrets::relativeFileWithoutCredentialsDirectory()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(u"sess"_s), u"from-config-dir\n"_s);
    EnvironmentOverride env("CREDENTIALS_DIRECTORY", QByteArray());
    const Config config =
        load(writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret_file = sess\n"_s));
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), u"from-config-dir"_s);
}

void tst_Secrets::unreadableFileIsAnErrorAtItsLine()
{
    QTemporaryDir dir;
    const QString path =
        writeFile(dir.filePath(u"a.conf"_s), u"[s]\n\nsecret_file = /nonexistent-berth/k\n"_s);
    const Config config = load(path);
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), QString());
    config.getSecret(u"s"_s, u"secret"_s); // read twice, said once
    QCOMPARE(messages(config.diagnostics()),
             QStringList{u"%1:3: [s] secret_file: cannot read '/nonexistent-berth/k': No such "
                         u"file or directory"_s.arg(path)});
}

void tst_Secrets::bothSetIsAnError()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(u"key"_s), u"x\n"_s);
    const QString path =
        writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret = abc\nsecret_file = key\n"_s);
    const Config config = load(path);
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), QString());
    QCOMPARE(
        messages(config.diagnostics()),
        QStringList{u"%1:3: [s] secret_file: set secret or secret_file, not both"_s.arg(path)});
}

void tst_Secrets::emptyFileIsAnError()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(u"key"_s), u"\n"_s);
    const QString path = writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret_file = key\n"_s);
    const Config config = load(path);
    QCOMPARE(config.getSecret(u"s"_s, u"secret"_s), QString());
    QCOMPARE(messages(config.diagnostics()).size(), 1);
    QVERIFY(messages(config.diagnostics()).front().contains(u"the file is empty"_s));
}

void tst_Secrets::worldReadableInlineSecretWarns()
{
    QTemporaryDir dir;
    const QString path = writeFile(dir.filePath(u"a.conf"_s), u"[s]\nsecret = abc\n"_s);
    QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther);
    Config config = load(path);
    const Diagnostics found = checkSecrets(config);
    QCOMPARE(found.size(), 1);
    QVERIFY(!found.front().isError());
    QCOMPARE(found.front().location.line, 2);
    QVERIFY(found.front().message.contains(u"world-readable"_s));
    QVERIFY(!found.front().message.contains(u"abc"_s)); // the secret itself is never shown

    QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup);
    config = load(path);
    QCOMPARE(checkSecrets(config).size(), 0);
    // A secret in a file is not inline.
    writeFile(dir.filePath(u"key"_s), u"abc\n"_s);
    const QString filed = writeFile(dir.filePath(u"b.conf"_s), u"[s]\nsecret_file = key\n"_s);
    QFile::setPermissions(filed, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther);
    config = load(filed);
    QCOMPARE(checkSecrets(config).size(), 0);
    QCOMPARE(messages(config.diagnostics()), QStringList());
}

QTEST_GUILESS_MAIN(tst_Secrets)
#include "tst_secrets.moc"
