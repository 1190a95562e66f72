// Unit tests for the configuration schema and validator (common/config), the checks behind
// `berthd check`.
#include "config/config.h"
#include "config/schemabuilder.h"
#include "config/validator.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Config;
using namespace Qt::StringLiterals;

namespace {

QStringList check(const QString &text)
{
    QStringList lines;
    for (const Diagnostic &d : validate(Config::fromText(text, u"v.conf"_s)))
        lines.append(d.toString());
    return lines;
}

const QString DocsPath = QStringLiteral(BERTH_TEST_DATA "/../../docs/configuration.md");
const QString BeginMarker = QStringLiteral("<!-- BEGIN GENERATED REFERENCE -->");
const QString EndMarker = QStringLiteral("<!-- END GENERATED REFERENCE -->");

} // namespace

class tst_Validator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void designExampleIsValid();
    void validConfigHasNoFindings();
    void unknownSection_data();
    void unknownSection();
    void unknownKey_data();
    void unknownKey();
    void badValue_data();
    void badValue();
    void emptyValueIsNotChecked();
    void apps_data();
    void apps();
    void includesLoadErrorsInFileOrder();
    void getterErrorsAreNotRepeated();

    void schemaFindSection_data();
    void schemaFindSection();
    void schemaApps();
    void schemaDefaultsMatchTheirTypes();
    void schemaMarkdown();
    void docsReferenceIsCurrent();

    void didYouMean_data();
    void didYouMean();
};

void tst_Validator::designExampleIsValid()
{
    const Config config =
        Config::load({QStringLiteral(BERTH_TEST_DATA "/config/design-example.conf")});
    const Diagnostics found = validate(config);
    QVERIFY2(!hasErrors(found), qPrintable(formatDiagnostics(found)));
    QStringList warnings;
    for (const Diagnostic &d : found)
        warnings.append(d.message);
    QCOMPARE(warnings, QStringList());
    // The values the example sets come through the getters unchanged.
    QCOMPARE(config.getInt(u"server"_s, u"workers"_s), 2);
    QCOMPARE(config.getSize(u"limits"_s, u"max_header_bytes"_s), 32 * 1024);
    QCOMPARE(config.getDuration(u"limits"_s, u"idle_timeout"_s).count(), 75000);
    QCOMPARE(config.section(u"routes:line"_s)->lines.size(), 8);
    QVERIFY(config.diagnostics().isEmpty());
}

void tst_Validator::validConfigHasNoFindings()
{
    const QString text = u"[berth]\nadditional_confs =\n"
                         u"[server]\nname = t\nport = 0\nworkers = 0\nthreads = 2\n"
                         u"allow_root = no\ngraceful_timeout = 1m30s\nlog_dir =\n"
                         u"[limits]\nmax_body_bytes = 1M\nheader_timeout = 2.5s\n"
                         u"[routes:line]\n/ = files\nthis is not checked here\n"
                         u"[app:files]\ncall = berth.static\nroot = /srv/www\n"
                         u"index = index.html \"home page.html\"\nfollow_symlinks = yes\n"
                         u"[app:echo]\ncall = berth.echo\nmax_echo = 1K\nmax_body_bytes = 2K\n"
                         u"[app:stats]\ncall = berth.stats\n[app:hb]\ncall = berth.heartbeat\n"_s;
    QCOMPARE(check(text), QStringList());
}

void tst_Validator::unknownSection_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("typo") << u"[server]\n[serer]\nport = 1\n"_s
                          << QStringList{u"v.conf:2: warning: unknown section [serer] (did you "
                                         u"mean [server]?)"_s};
    QTest::newRow("pattern typo")
        << u"[ap:echo]\ncall = berth.echo\n"_s
        << QStringList{u"v.conf:1: warning: unknown section [ap:echo] (did you mean "
                       u"[app:echo]?)"_s};
    QTest::newRow("raw lines without :line")
        << u"[routes]\n/ = x\n"_s
        << QStringList{u"v.conf:1: warning: unknown section [routes] (did you mean "
                       u"[routes:line]?)"_s};
    QTest::newRow("route:line") << u"[route:line]\n/ = x\n"_s
                                << QStringList{u"v.conf:1: warning: unknown section [route:line] "
                                               u"(did you mean [routes:line]?)"_s};
    QTest::newRow("app without name")
        << u"[app]\ncall = berth.echo\n"_s
        << QStringList{u"v.conf:1: warning: unknown section [app] (did you mean [app:NAME]?)"_s};
    QTest::newRow("nothing close") << u"[frobnicate]\nk = v\n"_s
                                   << QStringList{u"v.conf:1: warning: unknown section "
                                                  u"[frobnicate]"_s};
}

void tst_Validator::unknownSection()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    QCOMPARE(check(text), expected);
}

void tst_Validator::unknownKey_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("typo") << u"[server]\nprot = 8080\n"_s
                          << QStringList{u"v.conf:2: warning: [server] unknown key 'prot' (did "
                                         u"you mean 'port'?)"_s};
    QTest::newRow("two edits") << u"[limits]\nmax_header = 1K\n"_s
                               << QStringList{u"v.conf:2: warning: [limits] unknown key "
                                              u"'max_header' (did you mean 'max_headers'?)"_s};
    QTest::newRow("no suggestion") << u"[limits]\ncolour = blue\n"_s
                                   << QStringList{u"v.conf:2: warning: [limits] unknown key "
                                                  u"'colour'"_s};
    QTest::newRow("reported once at the effective entry")
        << u"[server]\nprot = 1\nprot = 2\n"_s
        << QStringList{u"v.conf:3: warning: [server] unknown key 'prot' (did you mean "
                       u"'port'?)"_s};
    QTest::newRow("brim section") << u"[brim]\nadditional_confs =\nother = 1\n"_s
                                  << QStringList{u"v.conf:3: warning: [brim] unknown key "
                                                 u"'other'"_s};
}

void tst_Validator::unknownKey()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    QCOMPARE(check(text), expected);
}

void tst_Validator::badValue_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("integer") << u"[server]\nworkers = two\n"_s
                             << QStringList{u"v.conf:2: [server] workers: 'two' is not an "
                                            u"integer"_s};
    QTest::newRow("boolean") << u"[server]\nallow_root = sure\n"_s
                             << QStringList{u"v.conf:2: [server] allow_root: 'sure' is not a "
                                            u"boolean"_s};
    QTest::newRow("size") << u"[limits]\nmax_body_bytes = 10MB2\n"_s
                          << QStringList{u"v.conf:2: [limits] max_body_bytes: '10MB2' is not a "
                                         u"size"_s};
    QTest::newRow("duration") << u"[limits]\nheader_timeout = 3x\n"_s
                              << QStringList{u"v.conf:2: [limits] header_timeout: '3x' is not a "
                                             u"duration"_s};
    QTest::newRow("app size") << u"[app:e]\ncall = berth.echo\nmax_echo = lots\n"_s
                              << QStringList{u"v.conf:3: [app:e] max_echo: 'lots' is not a "
                                             u"size"_s};
    QTest::newRow("port range") << u"[server]\nport = 70000\n"_s
                                << QStringList{u"v.conf:2: [server] port: '70000' is out of range "
                                               u"(0 to 65535)"_s};
    QTest::newRow("threads minimum") << u"[server]\nthreads = 0\n"_s
                                     << QStringList{u"v.conf:2: [server] threads: '0' is out of "
                                                    u"range (1 to 256)"_s};
    QTest::newRow("negative max_requests")
        << u"[server]\nmax_requests = -1\n"_s
        << QStringList{u"v.conf:2: [server] max_requests: '-1' is out of range (at least 0)"_s};
    QTest::newRow("umask") << u"[server]\numask = 0999\n"_s
                           << QStringList{u"v.conf:2: [server] umask: '0999' is not an octal "
                                          u"mode"_s};
    QTest::newRow("later value counts") << u"[server]\nport = x\nport = 80\n"_s << QStringList();
    QTest::newRow("several") << u"[server]\nport = x\n[limits]\nidle_timeout = soon\n"_s
                             << QStringList{
                                    u"v.conf:2: [server] port: 'x' is not an integer"_s,
                                    u"v.conf:4: [limits] idle_timeout: 'soon' is not a duration"_s};
}

void tst_Validator::badValue()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    QCOMPARE(check(text), expected);
}

void tst_Validator::emptyValueIsNotChecked()
{
    QCOMPARE(check(u"[server]\nport =\nworkers = ; later\n[limits]\nheader_timeout =\n"_s),
             QStringList());
}

void tst_Validator::apps_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("missing call") << u"[server]\n[app:echo]\nmax_echo = 1K\n"_s
                                  << QStringList{u"v.conf:2: [app:echo] call: missing"_s};
    QTest::newRow("empty call") << u"[app:echo]\ncall =\n"_s
                                << QStringList{u"v.conf:1: [app:echo] call: missing"_s};
    QTest::newRow("static without root") << u"[app:files]\ncall = berth.static\nindex = a.html\n"_s
                                         << QStringList{u"v.conf:1: [app:files] root: missing"_s};
    QTest::newRow("unknown berth app")
        << u"[app:e]\ncall = berth.ecko\n"_s
        << QStringList{u"v.conf:2: [app:e] call: unknown app 'berth.ecko' (did you mean "
                       u"'berth.echo'?)"_s};
    QTest::newRow("unknown berth app, nothing close")
        << u"[app:e]\ncall = berth.proxy\n"_s
        << QStringList{
               u"v.conf:2: [app:e] call: unknown app 'berth.proxy' (built-in apps: "
               u"berth.echo, berth.static, berth.stats, berth.metrics, berth.heartbeat, "
               u"berth.fault, "
               u"berth.basic_auth, berth.log_collector, berth.session, "
               u"berth.session_demo, berth.ws_echo, berth.ws_chat, berth.debug, "
               u"berth.gateway, berth.rate_limit, berth.mail, berth.wsgi, berth.compose)"_s};
    QTest::newRow("short name") << u"[app:e]\ncall = echo\n"_s
                                << QStringList{
                                       u"v.conf:2: [app:e] call: unknown app 'echo' (did you mean "
                                       u"'berth.echo'?)"_s};
    QTest::newRow("unknown app") << u"[app:e]\ncall = myapp\n"_s
                                 << QStringList{u"v.conf:2: [app:e] call: unknown app 'myapp'"_s};
    QTest::newRow("unknown app still checks common keys")
        << u"[app:e]\ncall = myapp\nmax_body_bytes = big\nwhatever = 1\n"_s
        << QStringList{u"v.conf:2: [app:e] call: unknown app 'myapp'"_s,
                       u"v.conf:3: [app:e] max_body_bytes: 'big' is not a size"_s};
    QTest::newRow("plugin accepts any key")
        << u"[app:p]\ncall = plugin:hello\ngreeting = hi\nmax_body_bytes = 1M\n"_s << QStringList();
    QTest::newRow("plugin common key checked")
        << u"[app:p]\ncall = plugin:/opt/libhello.so\nmax_body_bytes = 1Q\n"_s
        << QStringList{u"v.conf:3: [app:p] max_body_bytes: '1Q' is not a size"_s};
    QTest::newRow("plugin without name")
        << u"[app:p]\ncall = plugin:\n"_s
        << QStringList{u"v.conf:2: [app:p] call: 'plugin:' names no plugin"_s};
    QTest::newRow("app key typo")
        << u"[app:e]\ncall = berth.echo\nmax_ech = 1K\n"_s
        << QStringList{u"v.conf:3: warning: [app:e] unknown key 'max_ech' (did you mean "
                       u"'max_echo'?)"_s};
    QTest::newRow("other app's key")
        << u"[app:e]\ncall = berth.stats\nroot = /srv\n"_s
        << QStringList{u"v.conf:3: warning: [app:e] unknown key 'root'"_s};
    // A key family (`call_*`): any key with the prefix, each checked as the family's type.
    QTest::newRow("key family")
        << u"[app:c]\ncall = berth.compose\ncall_users = @u /a\ncall_x = /b\ncall_ = /c\n"
           u"timeout = soon\n"_s
        << QStringList{u"v.conf:5: warning: [app:c] unknown key 'call_' (did you mean "
                       u"'call'?)"_s,
                       u"v.conf:6: [app:c] timeout: 'soon' is not a duration"_s};
}

void tst_Validator::apps()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    QCOMPARE(check(text), expected);
}

void tst_Validator::includesLoadErrorsInFileOrder()
{
    QTemporaryDir dir;
    const auto write = [&](const QString &name, const QString &text) {
        QFile file(dir.filePath(name));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(text.toUtf8());
    };
    write(u"a.conf"_s, u"[server]\nprot = 1\n[berth]\nadditional_confs = b.conf gone.conf\n"
                       u"[limits]\nidle_timeout = x\n"_s);
    write(u"b.conf"_s, u"[server]\nworkers = many\n"_s);
    write(u"c.conf"_s, u"line before any section\n"_s);
    const QString a = dir.filePath(u"a.conf"_s);
    const QString b = dir.filePath(u"b.conf"_s);
    const QString c = dir.filePath(u"c.conf"_s);
    const QString missing = dir.filePath(u"missing.conf"_s);
    const Config config = Config::load({a, missing, c});
    QCOMPARE(formatDiagnostics(validate(config)),
             QString(missing + u": cannot read configuration file '"_s + missing +
                     u"': No such file or directory\n"_s + a +
                     u":2: warning: [server] unknown key 'prot' (did you mean 'port'?)\n"_s + a +
                     u":4: cannot read included file '"_s + dir.filePath(u"gone.conf"_s) +
                     u"': No such file or directory\n"_s + a +
                     u":6: [limits] idle_timeout: 'x' is not a duration\n"_s + b +
                     u":2: [server] workers: 'many' is not an integer\n"_s + c +
                     u":1: expected a [section] header before this line\n"_s));
}

void tst_Validator::getterErrorsAreNotRepeated()
{
    const Config config = Config::fromText(u"[limits]\nheader_timeout = 3x\n"_s, u"g.conf"_s);
    config.getDuration(u"limits"_s, u"header_timeout"_s);
    QCOMPARE(config.diagnostics().size(), 1);
    const Diagnostics found = validate(config);
    QCOMPARE(found.size(), 1);
    QCOMPARE(found.first().toString(),
             u"g.conf:2: [limits] header_timeout: '3x' is not a duration"_s);
}

void tst_Validator::schemaFindSection_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("pattern"); // empty: unknown
    QTest::addColumn<bool>("rawLines");
    QTest::newRow("server") << u"server"_s << u"server"_s << false;
    QTest::newRow("berth") << u"berth"_s << u"berth"_s << false;
    QTest::newRow("brim") << u"brim"_s << u"brim"_s << false;
    QTest::newRow("limits") << u"limits"_s << u"limits"_s << false;
    QTest::newRow("routes") << u"routes:line"_s << u"routes:line"_s << true;
    QTest::newRow("crontab") << u"crontab:line"_s << u"crontab:line"_s << true;
    QTest::newRow("app") << u"app:echo"_s << u"app:*"_s << false;
    QTest::newRow("group") << u"@users"_s << u"@*"_s << false;
    QTest::newRow("tcp") << u"tcp:echo"_s << u"tcp:*"_s << false;
    QTest::newRow("udp") << u"udp:echo"_s << u"udp:*"_s << false;
    QTest::newRow("daemon") << u"daemon:x"_s << u"daemon:*"_s << false;
    QTest::newRow("tls") << u"tls"_s << u"tls"_s << false;
    QTest::newRow("tls-sni") << u"tls:example.org"_s << u"tls:*"_s << false;
    QTest::newRow("app: alone") << u"app:"_s << QString() << false;
    QTest::newRow("@ alone") << u"@"_s << QString() << false;
    QTest::newRow("unknown") << u"servers"_s << QString() << false;
}

void tst_Validator::schemaFindSection()
{
    QFETCH(QString, name);
    QFETCH(QString, pattern);
    QFETCH(bool, rawLines);
    const SectionSpec *spec = Schema::builtin().findSection(name);
    if (pattern.isEmpty()) {
        QVERIFY(!spec);
        return;
    }
    QVERIFY(spec);
    QCOMPARE(spec->pattern, pattern);
    QCOMPARE(spec->rawLines, rawLines);
}

void tst_Validator::schemaApps()
{
    const Schema &schema = Schema::builtin();
    QCOMPARE(
        schema.builtinApps(),
        (QStringList{u"berth.echo"_s, u"berth.static"_s, u"berth.stats"_s, u"berth.metrics"_s,
                     u"berth.heartbeat"_s, u"berth.fault"_s, u"berth.basic_auth"_s,
                     u"berth.log_collector"_s, u"berth.session"_s, u"berth.session_demo"_s,
                     u"berth.ws_echo"_s, u"berth.ws_chat"_s, u"berth.debug"_s, u"berth.gateway"_s,
                     u"berth.rate_limit"_s, u"berth.mail"_s, u"berth.wsgi"_s, u"berth.compose"_s}));
    QVERIFY(schema.isKnownApp(u"berth.static"_s));
    QVERIFY(schema.isKnownApp(u"berth.session"_s));
    QVERIFY(!schema.isKnownApp(u"berth.admin"_s));
    QVERIFY(!schema.isKnownApp(u"plugin:x"_s));

    const auto names = [](const QList<KeySpec> &keys) {
        QStringList result;
        for (const KeySpec &k : keys)
            result.append(k.name);
        return result;
    };
    QCOMPARE(names(schema.appKeys(u"berth.static"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s, u"root"_s, u"index"_s,
                          u"allow_dotfiles"_s, u"follow_symlinks"_s, u"cache_control"_s,
                          u"open_file_cache"_s, u"open_file_cache_valid"_s}));
    QCOMPARE(names(schema.appKeys(u"berth.echo"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s, u"max_echo"_s}));
    QCOMPARE(names(schema.appKeys(u"berth.stats"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s}));
    QCOMPARE(names(schema.appKeys(u"plugin:x"_s)), (QStringList{u"call"_s, u"max_body_bytes"_s}));
    QCOMPARE(names(schema.appKeys(u"berth.basic_auth"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s, u"auth_path"_s, u"realm"_s,
                          u"allow_insecure"_s}));
    QCOMPARE(names(schema.appKeys(u"berth.log_collector"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s, u"file"_s, u"max_bytes"_s}));
    QCOMPARE(names(schema.appKeys(u"berth.session"_s)),
             (QStringList{u"call"_s, u"max_body_bytes"_s}));
    QVERIFY(schema.appKeys(u"berth.admin"_s).isEmpty());
    QVERIFY(schema.appKeys(u"nope"_s).isEmpty());
}

void tst_Validator::schemaDefaultsMatchTheirTypes()
{
    // Every key documents itself, and every documented default is a valid value of its type,
    // so the generated reference never shows a default the server would reject.
    const Schema &schema = Schema::builtin();
    QList<KeySpec> keys;
    for (const SectionSpec &s : schema.sections()) {
        QVERIFY2(!s.description.isEmpty(), qPrintable(s.pattern));
        QVERIFY2(!s.rawLines || s.keys.isEmpty(), qPrintable(s.pattern));
        keys += s.keys;
    }
    for (const AppSpec &app : schema.apps()) {
        QVERIFY2(!app.description.isEmpty(), qPrintable(app.call));
        keys += app.keys;
    }
    QVERIFY(keys.size() > 60);
    for (const KeySpec &k : std::as_const(keys)) {
        QVERIFY2(!k.description.isEmpty(), qPrintable(k.name));
        QVERIFY2(k.description.endsWith(u'.'), qPrintable(k.name));
        if (k.defaultValue.isEmpty())
            continue;
        const QString &v = k.defaultValue;
        bool ok = true;
        switch (k.type) {
        case ValueType::Int:
            ok = Values::parseInt(v).has_value();
            if (ok && k.minimum)
                ok = *Values::parseInt(v) >= *k.minimum;
            if (ok && k.maximum)
                ok = *Values::parseInt(v) <= *k.maximum;
            break;
        case ValueType::Float:
            ok = Values::parseFloat(v).has_value();
            break;
        case ValueType::Bool:
            ok = Values::parseBool(v).has_value();
            break;
        case ValueType::Size:
            ok = Values::parseSize(v).has_value();
            break;
        case ValueType::Duration:
            ok = Values::parseDuration(v).has_value();
            break;
        case ValueType::Mode:
            ok = Values::parseMode(v).has_value();
            break;
        default:
            break;
        }
        QVERIFY2(ok, qPrintable(k.name + u" = "_s + v));
    }
}

void tst_Validator::schemaMarkdown()
{
    const QString markdown = Schema::builtin().toMarkdown();
    QVERIFY(markdown.startsWith(u"### [berth]\n"_s));
    QVERIFY(markdown.contains(
        u"| `port` | integer (0 to 65535) | `8080` | TCP port of the HTTP listener. |\n"_s));
    QVERIFY(markdown.contains(u"### [app:NAME]\n"_s));
    QVERIFY(markdown.contains(u"#### call = berth.static\n"_s));
    QVERIFY(markdown.contains(u"| `root` | path | *required* |"_s));
    QVERIFY(markdown.contains(u"#### call = berth.session\n"_s));
    QVERIFY(markdown.contains(u"#### call = berth.wsgi\n"_s));
    QVERIFY(markdown.contains(u"### [tcp:NAME]\n"_s));
    QVERIFY(markdown.contains(u"### [mailer]\n\nThe mail delivery agent"_s));
    QVERIFY(markdown.endsWith(u'\n'));
    QVERIFY(!markdown.endsWith(u"\n\n"_s));
}

void tst_Validator::docsReferenceIsCurrent()
{
    // docs/configuration.md embeds Schema::toMarkdown() between two markers. Run this test with
    // BERTH_UPDATE_DOCS=1 to rewrite that part after changing the schema.
    QFile file(DocsPath);
    QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(DocsPath));
    QString text = QString::fromUtf8(file.readAll());
    file.close();
    const qsizetype begin = text.indexOf(BeginMarker);
    const qsizetype end = text.indexOf(EndMarker);
    QVERIFY(begin >= 0 && end > begin);
    const qsizetype from = begin + BeginMarker.size() + 1; // after the marker's newline
    const QString current = text.mid(from, end - from);
    const QString generated = Schema::builtin().toMarkdown();
    if (current != generated && qEnvironmentVariableIntValue("BERTH_UPDATE_DOCS") == 1) {
        text.replace(from, end - from, generated);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(text.toUtf8());
        return;
    }
    QVERIFY2(current == generated,
             "docs/configuration.md is out of date: run tst_validator with BERTH_UPDATE_DOCS=1");
}

void tst_Validator::didYouMean_data()
{
    QTest::addColumn<QString>("word");
    QTest::addColumn<QStringList>("candidates");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("distance"); // editDistance(word, expected or first candidate)
    const QStringList keys{u"port"_s, u"ip"_s, u"workers"_s, u"threads"_s};
    QTest::newRow("swap") << u"prot"_s << keys << u"port"_s << 2;
    QTest::newRow("missing letter") << u"worker"_s << keys << u"workers"_s << 1;
    QTest::newRow("extra letters") << u"threadsss"_s << keys << u"threads"_s << 2;
    QTest::newRow("too far") << u"colour"_s << keys << QString() << 5;
    QTest::newRow("exact is not a suggestion") << u"port"_s << keys << QString() << 0;
    QTest::newRow("short word") << u"x"_s << QStringList{u"ip"_s} << QString() << 2;
    QTest::newRow("closest wins") << u"pots"_s << QStringList{u"poets"_s, u"port"_s} << u"poets"_s
                                  << 1;
    QTest::newRow("empty") << QString() << keys << QString() << 4;
}

void tst_Validator::didYouMean()
{
    QFETCH(QString, word);
    QFETCH(QStringList, candidates);
    QFETCH(QString, expected);
    QFETCH(int, distance);
    QCOMPARE(Berth::Config::didYouMean(word, candidates), expected);
    QCOMPARE(editDistance(word, expected.isEmpty() ? candidates.first() : expected), distance);
}

QTEST_GUILESS_MAIN(tst_Validator)
#include "tst_validator.moc"
