// Unit tests for reading configuration files: several -c files, additional_confs includes
// (relative, quoted, ~, missing, cycles, brim's section) and unreadable files.
#include "config/config.h"
#include "confighelpers.h"

#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Config;
using namespace Qt::StringLiterals;
using namespace ConfigTest;

class tst_ConfigFiles : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void missingTopLevelFile();
    void multipleFilesMergeInOrder();
    void givenTextsReplaceFiles();
    void includeRelativeAndQuoted();
    void includeTilde();
    void includeMissing();
    void includeCycle();
    void includeSelf();
    void includeBrimSection();
    void includeNestedDirectories();
    void includeDiamondReadOnce();
    void fromTextIncludes();
    void includeGlobSortedOrder();
    void includeGlobWithoutMatch();
};

void tst_ConfigFiles::missingTopLevelFile()
{
    QTemporaryDir dir;
    const QString missing = dir.filePath(u"x.conf"_s);
    const QString present = writeFile(dir.filePath(u"y.conf"_s), u"[server]\nport = 1\n"_s);
    const Config config = Config::load({missing, present});
    QCOMPARE(
        messages(config.diagnostics()),
        QStringList{
            u"%1: cannot read configuration file '%1': No such file or directory"_s.arg(missing)});
    QCOMPARE(config.diagnostics().first().location.file, missing);
    QCOMPARE(config.diagnostics().first().location.line, 0);
    // The rest is still read.
    QCOMPARE(config.files(), QStringList{present});
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 1);

    const Config directory = Config::load({dir.path()});
    QCOMPARE(
        messages(directory.diagnostics()),
        QStringList{u"%1: cannot read configuration file '%1': Is a directory"_s.arg(dir.path())});
}

void tst_ConfigFiles::multipleFilesMergeInOrder()
{
    QTemporaryDir dir;
    const QString a = writeFile(dir.filePath(u"a.conf"_s),
                                u"[server]\nport = 1\nname = a\n[routes:line]\n/a = x\n"_s);
    const QString b = writeFile(dir.filePath(u"b.conf"_s),
                                u"[server]\nport = 2\n[routes:line]\n/b = y\n[limits]\n"_s);
    const Config config = Config::load({a, b});
    QVERIFY(config.diagnostics().isEmpty());
    QCOMPARE(config.files(), (QStringList{a, b}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 2);
    QCOMPARE(config.getString(u"server"_s, u"name"_s), u"a"_s);
    QCOMPARE(config.location(u"server"_s, u"port"_s).toString(), b + u":2"_s);
    QCOMPARE(config.location(u"server"_s, u"name"_s).toString(), a + u":3"_s);
    const Section *routes = config.section(u"routes:line"_s);
    QCOMPARE(routes->lines.size(), 2);
    QCOMPARE(routes->lines.at(0).location.toString(), a + u":5"_s);
    QCOMPARE(routes->lines.at(1).location.toString(), b + u":4"_s);
    QCOMPARE(config.sectionNames(), (QStringList{u"server"_s, u"routes:line"_s, u"limits"_s}));

    const Config reversed = Config::load({b, a});
    QCOMPARE(reversed.getInt(u"server"_s, u"port"_s), 1);
}

void tst_ConfigFiles::givenTextsReplaceFiles()
{
    // What the admin API validates: proposed texts instead of what is on disk, the rest read.
    QTemporaryDir dir;
    const QString a = writeFile(dir.filePath(u"a.conf"_s),
                                u"[server]\nport = 1\n[berth]\nadditional_confs = inc.conf\n"_s);
    const QString inc = writeFile(dir.filePath(u"inc.conf"_s), u"[server]\nname = disk\n"_s);
    const Config proposed =
        Config::load({a}, {{inc, u"[server]\n\nname = proposed\nport = x\n"_s}});
    QCOMPARE(proposed.getString(u"server"_s, u"name"_s), u"proposed"_s);
    QCOMPARE(proposed.location(u"server"_s, u"name"_s).toString(), inc + u":3"_s);
    QCOMPARE(proposed.files(), (QStringList{a, inc}));
    // By its canonical path too, and the file on disk is left alone.
    const Config top =
        Config::load({a}, {{QFileInfo(a).canonicalFilePath(), u"[server]\nport = 7\n"_s}});
    QCOMPARE(top.getInt(u"server"_s, u"port"_s), 7);
    QCOMPARE(top.files(), QStringList{a});
    QCOMPARE(Config::load({a}).getString(u"server"_s, u"name"_s), u"disk"_s);
}

void tst_ConfigFiles::includeRelativeAndQuoted()
{
    QTemporaryDir dir;
    const QString main = writeFile(dir.filePath(u"main.conf"_s),
                                   u"[berth]\nadditional_confs = common.conf \"my site.conf\", "
                                   u"conf.d/x.conf\n[server]\nport = 1\nname = main\n"_s);
    writeFile(dir.filePath(u"common.conf"_s), u"[server]\nport = 2\nthreads = 4\n"_s);
    writeFile(dir.filePath(u"my site.conf"_s), u"[server]\nport = 3\n"_s);
    writeFile(dir.filePath(u"conf.d/x.conf"_s), u"[limits]\nmax_headers = 50\n"_s);
    const QString later = writeFile(dir.filePath(u"later.conf"_s), u"[server]\nthreads = 8\n"_s);

    const Config config = Config::load({main, later});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QCOMPARE(config.files(),
             (QStringList{main, dir.filePath(u"common.conf"_s), dir.filePath(u"my site.conf"_s),
                          dir.filePath(u"conf.d/x.conf"_s), later}));
    // Included files are read right after the including file, so they override it, and files
    // given after it override them.
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 3);
    QCOMPARE(config.getString(u"server"_s, u"name"_s), u"main"_s);
    QCOMPARE(config.getInt(u"server"_s, u"threads"_s), 8);
    QCOMPARE(config.getInt(u"limits"_s, u"max_headers"_s), 50);
}

void tst_ConfigFiles::includeTilde()
{
    QTemporaryDir dir;
    QTemporaryDir home;
    EnvironmentOverride override("HOME", QFile::encodeName(home.path()));
    writeFile(home.filePath(u".berth.conf"_s), u"[server]\nport = 9\n"_s);
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s), u"[berth]\nadditional_confs = ~/.berth.conf\n"_s);
    const Config config = Config::load({main});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QCOMPARE(config.files(), (QStringList{main, home.filePath(u".berth.conf"_s)}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 9);
}

void tst_ConfigFiles::includeMissing()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"a.conf"_s),
                  u"[server]\n[berth]\nadditional_confs = /nonexistent-berth/y.conf "
                  u"here.conf\n"_s);
    writeFile(dir.filePath(u"here.conf"_s), u"[server]\nport = 5\n"_s);
    const Config config = Config::load({main});
    QCOMPARE(messages(config.diagnostics()),
             QStringList{main + u":3: cannot read included file '/nonexistent-berth/y.conf': No "
                                u"such file or directory"_s});
    // The other include is still read.
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 5);
}

void tst_ConfigFiles::includeCycle()
{
    QTemporaryDir dir;
    const QString a = writeFile(dir.filePath(u"a.conf"_s),
                                u"[server]\nport = 1\n[berth]\nadditional_confs = b.conf\n"_s);
    const QString b = writeFile(dir.filePath(u"b.conf"_s),
                                u"[berth]\nadditional_confs = a.conf\n[server]\nport = 2\n"_s);
    const Config config = Config::load({a});
    QCOMPARE(messages(config.diagnostics()),
             QStringList{u"%2:2: include cycle: %1 -> %2 -> %1"_s.arg(a, b)});
    QCOMPARE(config.files(), (QStringList{a, b}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 2);

    // The same with relative names, as a user types them on the command line.
    const QString savedDir = QDir::currentPath();
    QDir::setCurrent(dir.path());
    const Config relative = Config::load({u"a.conf"_s});
    QDir::setCurrent(savedDir);
    QCOMPARE(messages(relative.diagnostics()),
             QStringList{u"b.conf:2: include cycle: a.conf -> b.conf -> a.conf"_s});
}

void tst_ConfigFiles::includeSelf()
{
    QTemporaryDir dir;
    const QString a =
        writeFile(dir.filePath(u"a.conf"_s), u"[berth]\nadditional_confs = ./a.conf\n"_s);
    const Config config = Config::load({a});
    QCOMPARE(messages(config.diagnostics()),
             QStringList{u"%1:2: include cycle: %1 -> %1"_s.arg(a)});
}

void tst_ConfigFiles::includeBrimSection()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s), u"[brim]\nadditional_confs = brim.conf\n[berth]\n"
                                                u"additional_confs = berth.conf\n"_s);
    writeFile(dir.filePath(u"brim.conf"_s), u"[server]\nport = 1\nname = brim\n"_s);
    writeFile(dir.filePath(u"berth.conf"_s), u"[server]\nport = 2\n"_s);
    const Config config = Config::load({main});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    // Both sections include, in the order they appear in the file.
    QCOMPARE(config.files(),
             (QStringList{main, dir.filePath(u"brim.conf"_s), dir.filePath(u"berth.conf"_s)}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 2);
    QCOMPARE(config.getString(u"server"_s, u"name"_s), u"brim"_s);
}

void tst_ConfigFiles::includeNestedDirectories()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s), u"[berth]\nadditional_confs = sub/one.conf\n"_s);
    writeFile(dir.filePath(u"sub/one.conf"_s),
              u"[berth]\nadditional_confs = two.conf\n[app:files]\nroot = www\n"_s);
    writeFile(dir.filePath(u"sub/two.conf"_s), u"[server]\nport = 2\n"_s);
    const Config config = Config::load({main});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    // two.conf is relative to sub/one.conf, not to main.conf.
    QCOMPARE(config.files().value(2), dir.filePath(u"sub/two.conf"_s));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 2);
    // A path is relative to the file it was written in.
    QCOMPARE(config.getPath(u"app:files"_s, u"root"_s), dir.filePath(u"sub/www"_s));
}

void tst_ConfigFiles::includeDiamondReadOnce()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s), u"[berth]\nadditional_confs = b.conf c.conf\n"_s);
    writeFile(dir.filePath(u"b.conf"_s), u"[berth]\nadditional_confs = d.conf\n"_s);
    writeFile(dir.filePath(u"c.conf"_s), u"[berth]\nadditional_confs = d.conf\n"_s);
    writeFile(dir.filePath(u"d.conf"_s), u"[routes:line]\n/ = echo\n"_s);
    const Config config = Config::load({main, main});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QCOMPARE(config.files().size(), 4);
    QCOMPARE(config.section(u"routes:line"_s)->lines.size(), 1);
}

void tst_ConfigFiles::fromTextIncludes()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(u"inc.conf"_s), u"[server]\nport = 7\n"_s);
    const QString text = u"[berth]\nadditional_confs = inc.conf\n"_s;
    const QString name = dir.filePath(u"edited.conf"_s);

    const Config followed = Config::fromText(text, name);
    QCOMPARE(messages(followed.diagnostics()), QStringList());
    QCOMPARE(followed.files(), (QStringList{name, dir.filePath(u"inc.conf"_s)}));
    QCOMPARE(followed.getInt(u"server"_s, u"port"_s), 7);

    const Config ignored = Config::fromText(text, name, Config::Includes::Ignore);
    QCOMPARE(messages(ignored.diagnostics()), QStringList());
    QCOMPARE(ignored.files(), QStringList{name});
    QVERIFY(!ignored.hasSection(u"server"_s));
    QCOMPARE(ignored.getList(u"berth"_s, u"additional_confs"_s), QStringList{u"inc.conf"_s});
}

void tst_ConfigFiles::includeGlobSortedOrder()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s),
                  u"[berth]\nadditional_confs = conf.d/*.conf\n[server]\nport = 1\n"_s);
    // Written out of order; read in byte order of the names (B < a), a later file winning.
    writeFile(dir.filePath(u"conf.d/b.conf"_s), u"[server]\nport = 3\nname = b\n"_s);
    writeFile(dir.filePath(u"conf.d/a.conf"_s), u"[server]\nport = 2\nname = a\n"_s);
    writeFile(dir.filePath(u"conf.d/B.conf"_s), u"[server]\nworkers = 4\nname = B\n"_s);
    writeFile(dir.filePath(u"conf.d/skip.txt"_s), u"not [ a config\n"_s);
    QDir(dir.path()).mkpath(u"conf.d/dir.conf"_s); // a directory that matches: skipped
    const Config config = Config::load({main});
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QCOMPARE(config.files(),
             (QStringList{main, dir.filePath(u"conf.d/B.conf"_s), dir.filePath(u"conf.d/a.conf"_s),
                          dir.filePath(u"conf.d/b.conf"_s)}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 3);
    QCOMPARE(config.getString(u"server"_s, u"name"_s), u"b"_s);
    QCOMPARE(config.getInt(u"server"_s, u"workers"_s), 4);
}

void tst_ConfigFiles::includeGlobWithoutMatch()
{
    QTemporaryDir dir;
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s),
                  u"[berth]\nadditional_confs = empty.d/*.conf, missing/?.conf, one.conf\n"_s);
    QDir(dir.path()).mkpath(u"empty.d"_s);
    writeFile(dir.filePath(u"one.conf"_s), u"[server]\nport = 5\n"_s);
    const Config config = Config::load({main});
    // No match is not an error (nginx include, supervisord [include]); a plain name still is.
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QCOMPARE(config.files(), (QStringList{main, dir.filePath(u"one.conf"_s)}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 5);
}

QTEST_GUILESS_MAIN(tst_ConfigFiles)
#include "tst_configfiles.moc"
