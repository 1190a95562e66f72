// The plugin loader's resolution rules: how `plugin:` calls are parsed, where libraries are
// searched, what a library that can't be loaded reports, and the prefix lookups of the socket-app
// and daemon registries. Loading real plugins is conformance/test_92_plugins.py's (they are
// built out of tree against the installed SDK).
#include "daemon/daemon.h"
#include "pipeline/appregistry.h"
#include "plugin/pluginloader.h"
#include "socketapps/socketappregistry.h"

#include <config/config.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

using namespace Berth;
using namespace Qt::StringLiterals;

class TestPluginLoader : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parseCall_data();
    void parseCall();
    void searchesPluginDirsInOrder();
    void defaultDirIsPluginsBesideTheConfiguration();
    void notFoundListsWhereItLooked();
    void pathIsRelativeToTheConfiguration();
    void unloadableLibraryIsAnErrorAtTheCallNamingTheFile();
    void socketRegistryResolvesPrefixesAfterExactNames();
    void daemonRegistryResolvesPrefixesAfterExactNames();

private:
    static void touch(const QString &path)
    {
        QDir().mkpath(QFileInfo(path).absolutePath());
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("not an ELF file\n");
    }
};

void TestPluginLoader::parseCall_data()
{
    QTest::addColumn<QString>("call");
    QTest::addColumn<QString>("library");
    QTest::addColumn<QString>("app");
    QTest::newRow("name") << u"plugin:hello"_s << u"hello"_s << QString();
    QTest::newRow("name and app") << u"plugin:hello:shout"_s << u"hello"_s << u"shout"_s;
    QTest::newRow("path") << u"plugin:/opt/b/libhello.so"_s << u"/opt/b/libhello.so"_s << QString();
    QTest::newRow("path and app") << u"plugin:/opt/b/libhello.so:shout"_s << u"/opt/b/libhello.so"_s
                                  << u"shout"_s;
    QTest::newRow("colon in a directory")
        << u"plugin:/opt/a:b/libx.so"_s << u"/opt/a:b/libx.so"_s << QString();
    QTest::newRow("empty") << u"plugin:"_s << QString() << QString();
}

void TestPluginLoader::parseCall()
{
    QFETCH(QString, call);
    QFETCH(QString, library);
    QFETCH(QString, app);
    const Plugins::PluginCall parsed = Plugins::parsePluginCall(call);
    QCOMPARE(parsed.library, library);
    QCOMPARE(parsed.app, app);
}

void TestPluginLoader::searchesPluginDirsInOrder()
{
    QTemporaryDir dir;
    touch(dir.filePath(u"second/libfoo.so"_s));
    touch(dir.filePath(u"first/foo.so"_s));
    touch(dir.filePath(u"first/libbar.so"_s));
    touch(dir.filePath(u"first/bar.so"_s));
    const auto config = Config::Config::fromText(u"[berth]\nplugin_dirs = first, second\n"_s,
                                                 dir.filePath(u"berth.conf"_s));
    QString error;
    QCOMPARE(Plugins::findPluginFile(config, u"app:x"_s, u"foo"_s, &error),
             dir.filePath(u"first/foo.so"_s));
    QCOMPARE(Plugins::findPluginFile(config, u"app:x"_s, u"bar"_s, &error),
             dir.filePath(u"first/libbar.so"_s));
}

void TestPluginLoader::defaultDirIsPluginsBesideTheConfiguration()
{
    QTemporaryDir dir;
    touch(dir.filePath(u"plugins/libhello.so"_s));
    const auto config =
        Config::Config::fromText(u"[app:x]\ncall = plugin:hello\n"_s, dir.filePath(u"b.conf"_s));
    QString error;
    QCOMPARE(Plugins::findPluginFile(config, u"app:x"_s, u"hello"_s, &error),
             dir.filePath(u"plugins/libhello.so"_s));
}

void TestPluginLoader::notFoundListsWhereItLooked()
{
    QTemporaryDir dir;
    const auto config = Config::Config::fromText(u"[berth]\nplugin_dirs = /nonexistent one\n"_s,
                                                 dir.filePath(u"b.conf"_s));
    QString error;
    QVERIFY(Plugins::findPluginFile(config, u"app:x"_s, u"shop"_s, &error).isEmpty());
    QCOMPARE(error, u"plugin 'shop' not found (looked for libshop.so, shop.so in /nonexistent, "
                    u"%1; see [berth] plugin_dirs)"_s.arg(dir.filePath(u"one"_s)));
}

void TestPluginLoader::pathIsRelativeToTheConfiguration()
{
    QTemporaryDir dir;
    touch(dir.filePath(u"lib/libshop.so"_s));
    const auto config = Config::Config::fromText(u"[app:shop]\ncall = plugin:lib/libshop.so\n"_s,
                                                 dir.filePath(u"b.conf"_s));
    QString error;
    QCOMPARE(Plugins::findPluginFile(config, u"app:shop"_s, u"lib/libshop.so"_s, &error),
             dir.filePath(u"lib/libshop.so"_s));
    QVERIFY(Plugins::findPluginFile(config, u"app:shop"_s, u"lib/libnone.so"_s, &error).isEmpty());
    QCOMPARE(error, u"%1: no such plugin file"_s.arg(dir.filePath(u"lib/libnone.so"_s)));
}

void TestPluginLoader::unloadableLibraryIsAnErrorAtTheCallNamingTheFile()
{
    QTemporaryDir dir;
    const QString junk = dir.filePath(u"plugins/libjunk.so"_s);
    touch(junk);
    const auto config =
        Config::Config::fromText(u"[app:j]\n\ncall = plugin:junk\n"_s, dir.filePath(u"b.conf"_s));
    Pipeline::AppRegistry registry;
    Plugins::registerPluginApps(registry);
    const Pipeline::AppSetup setup{config, u"app:j"_s, u"j"_s, nullptr};
    QVERIFY(!registry.create(u"plugin:junk"_s, setup));
    const Config::Diagnostics diagnostics = config.diagnostics();
    QCOMPARE(diagnostics.size(), 1);
    QCOMPARE(diagnostics[0].location.line, 3);
    QVERIFY2(diagnostics[0].message.startsWith(u"[app:j] call: "_s + junk),
             qPrintable(diagnostics[0].message));
}

void TestPluginLoader::socketRegistryResolvesPrefixesAfterExactNames()
{
    SocketApps::SocketAppRegistry registry;
    Plugins::registerPluginSocketApps(registry);
    QVERIFY(registry.stream(u"plugin:anything"_s));
    QVERIFY(registry.datagram(u"plugin:/x/liby.so"_s));
    QVERIFY(!registry.stream(u"berth.nope"_s));
    registry.addStream(u"plugin:exact"_s, [](SocketApps::SocketAppSetup &) { return nullptr; });
    QVERIFY(registry.stream(u"plugin:exact"_s) != registry.stream(u"plugin:other"_s));
    QCOMPARE(registry.streamCalls(), QStringList{u"plugin:exact"_s});
}

void TestPluginLoader::daemonRegistryResolvesPrefixesAfterExactNames()
{
    Daemons::DaemonRegistry registry;
    Plugins::registerPluginDaemons(registry);
    const Daemons::DaemonKind *prefix = registry.find(u"plugin:ticker"_s);
    QVERIFY(prefix);
    QCOMPARE(prefix->name, u"plugin:"_s);
    QVERIFY(!registry.find(u"berth.nope"_s));
    registry.add({u"plugin:exact"_s, {}, {}});
    QCOMPARE(registry.find(u"plugin:exact"_s)->name, u"plugin:exact"_s);
    QVERIFY(registry.names().contains(u"plugin:exact"_s));
}

QTEST_GUILESS_MAIN(TestPluginLoader)
#include "tst_pluginloader.moc"
