// Unit tests for where the typed getters take their defaults: the schema, and only the schema
// (common/config). Parsing and the getters' conversions: tst_config.cpp.
#include "config/config.h"
#include "confighelpers.h"

#include <QTest>

using namespace Berth::Config;
using namespace Qt::StringLiterals;
using namespace std::chrono_literals;
using namespace ConfigTest;

namespace {

// Whether a getter can be called with a default argument (it must not: defaults live in the
// schema). A requires-expression outside a template can't test that, hence the concepts.
template <typename C>
concept IntWithDefault = requires(const C &c)
{
    c.getInt(QString(), QString(), 0);
};
template <typename C>
concept StringWithDefault = requires(const C &c)
{
    c.getString(QString(), QString(), QString());
};
template <typename C>
concept DurationWithDefault = requires(const C &c)
{
    c.getDuration(QString(), QString(), std::chrono::milliseconds());
};
template <typename C>
concept ListWithDefault = requires(const C &c)
{
    c.getList(QString(), QString(), QStringList());
};
template <typename C>
concept BoolWithDefault = requires(const C &c)
{
    c.getBool(QString(), QString(), false);
};
template <typename C>
concept SizeWithDefault = requires(const C &c)
{
    c.getSize(QString(), QString(), qint64(0));
};
template <typename C>
concept FloatWithDefault = requires(const C &c)
{
    c.getFloat(QString(), QString(), 0.0);
};
template <typename C>
concept PathWithDefault = requires(const C &c)
{
    c.getPath(QString(), QString(), QString());
};
template <typename C>
concept SchemaGetters = requires(const C &c)
{
    c.getInt(QString(), QString());
    c.getString(QString(), QString());
    c.getDuration(QString(), QString());
    c.getList(QString(), QString());
    c.getBool(QString(), QString());
    c.getSize(QString(), QString());
    c.getFloat(QString(), QString());
    c.getPath(QString(), QString());
};

} // namespace

class tst_ConfigDefaults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void missingOrEmptyValueGivesTheSchemaDefault();
    void defaultsComeFromTheBuiltinSchema();
    void defaultArgumentsDoNotCompile();
    void keyUnknownToTheSchemaHasNoDefault();
};

void tst_ConfigDefaults::missingOrEmptyValueGivesTheSchemaDefault()
{
    const Schema schema = testSchema({
        keySpec(u"i"_s, ValueType::Int, u"7"_s),
        keySpec(u"f"_s, ValueType::Float, u"1.5"_s),
        keySpec(u"b"_s, ValueType::Bool, u"yes"_s),
        keySpec(u"z"_s, ValueType::Size, u"4K"_s),
        keySpec(u"d"_s, ValueType::Duration, u"30s"_s),
        keySpec(u"str"_s, ValueType::String, u"x"_s),
        keySpec(u"l"_s, ValueType::List, u"x, y"_s),
        keySpec(u"p"_s, ValueType::Path, u"/x"_s),
        keySpec(u"rel"_s, ValueType::Path, u"logs"_s),
        keySpec(u"none"_s, ValueType::Int, QString()),
        keySpec(u"nostr"_s, ValueType::String, QString()),
    });
    Config config = Config::fromText(
        u"[s]\ni =\nf =\nb =\nz = ; nothing\nd =\nstr =\nl =\np =\nnone =\n"_s, u"/etc/b.conf"_s);
    config.setSchema(&schema);
    QCOMPARE(config.getInt(u"s"_s, u"i"_s), 7);
    QCOMPARE(config.getFloat(u"s"_s, u"f"_s), 1.5);
    QCOMPARE(config.getBool(u"s"_s, u"b"_s), true);
    QCOMPARE(config.getSize(u"s"_s, u"z"_s), 4096);
    QCOMPARE(config.getDuration(u"s"_s, u"d"_s), std::chrono::milliseconds(30s));
    QCOMPARE(config.getInt(u"s"_s, u"none"_s), 0); // no default in the schema: the empty value
    // For strings, lists and paths an empty value is a value: "turned off".
    QCOMPARE(config.getString(u"s"_s, u"str"_s), QString());
    QCOMPARE(config.getList(u"s"_s, u"l"_s), QStringList());
    QCOMPARE(config.getPath(u"s"_s, u"p"_s), QString());
    QVERIFY(config.has(u"s"_s, u"i"_s));
    QVERIFY(!config.isSet(u"s"_s, u"i"_s));
    QVERIFY(config.diagnostics().isEmpty());

    Config absent = Config::fromText(u"[s]\n"_s, u"/etc/b.conf"_s);
    absent.setSchema(&schema);
    QCOMPARE(absent.getInt(u"s"_s, u"i"_s), 7);
    QCOMPARE(absent.getString(u"s"_s, u"str"_s), u"x"_s);
    QCOMPARE(absent.getString(u"s"_s, u"nostr"_s), QString());
    QCOMPARE(absent.getList(u"s"_s, u"l"_s), (QStringList{u"x"_s, u"y"_s}));
    QCOMPARE(absent.getPath(u"s"_s, u"p"_s), u"/x"_s);
    // A relative default is relative to the first file, like a relative value to its file.
    QCOMPARE(absent.getPath(u"s"_s, u"rel"_s), u"/etc/logs"_s);
    QVERIFY(!absent.isSet(u"s"_s, u"i"_s));
    QVERIFY(absent.diagnostics().isEmpty());
}

void tst_ConfigDefaults::defaultsComeFromTheBuiltinSchema()
{
    // What docs/configuration.md says is what the code gets.
    const Config config = Config::fromText(
        u"[server]\n[app:files]\ncall = berth.static\nroot = /srv\n[app:e]\ncall = berth.echo\n"_s);
    QCOMPARE(config.getInt(u"server"_s, u"workers"_s), 1);
    QCOMPARE(config.getString(u"server"_s, u"umask"_s), u"022"_s);
    QCOMPARE(config.getString(u"server"_s, u"ip"_s), u"127.0.0.1"_s);
    QCOMPARE(config.getDuration(u"limits"_s, u"idle_timeout"_s), std::chrono::milliseconds(75s));
    QCOMPARE(config.getSize(u"limits"_s, u"max_body_bytes"_s), 10 * 1024 * 1024);
    QCOMPARE(config.getBool(u"tls"_s, u"http2"_s), true);
    QCOMPARE(config.getString(u"sessions"_s, u"store"_s), u"sqlite:sessions.db"_s);
    // [app:NAME]: the keys of the app it calls.
    QCOMPARE(config.getList(u"app:files"_s, u"index"_s), QStringList{u"index.html"_s});
    QCOMPARE(config.getSize(u"app:e"_s, u"max_echo"_s), 64 * 1024);
    QVERIFY(config.keySpec(u"app:e"_s, u"call"_s));
    QVERIFY(!config.keySpec(u"app:e"_s, u"index"_s)); // berth.static's, not berth.echo's
    QVERIFY(config.diagnostics().isEmpty());
}

void tst_ConfigDefaults::defaultArgumentsDoNotCompile()
{
    // Fails to build if someone brings back a getter with a default argument: a default at the
    // call site drifts from the schema and from the generated reference.
    static_assert(SchemaGetters<Config>);
    static_assert(!IntWithDefault<Config>);
    static_assert(!StringWithDefault<Config>);
    static_assert(!DurationWithDefault<Config>);
    static_assert(!ListWithDefault<Config>);
    static_assert(!BoolWithDefault<Config>);
    static_assert(!SizeWithDefault<Config>);
    static_assert(!FloatWithDefault<Config>);
    static_assert(!PathWithDefault<Config>);
    QVERIFY(true);
}

void tst_ConfigDefaults::keyUnknownToTheSchemaHasNoDefault()
{
    const Config config = Config::fromText(u"[server]\n"_s);
    QTest::ignoreMessage(QtWarningMsg,
                         "berth config: [server] no_such_key is read but the schema does not "
                         "know it");
    QCOMPARE(config.getInt(u"server"_s, u"no_such_key"_s), 0);
}

QTEST_GUILESS_MAIN(tst_ConfigDefaults)
#include "tst_configdefaults.moc"
