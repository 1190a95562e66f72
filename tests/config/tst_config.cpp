// Unit tests for the configuration parser, the value parsers and the typed getters
// (common/config). Reading files and includes: tst_configfiles.cpp.
#include "config/config.h"
#include "confighelpers.h"

#include <QDir>
#include <QFile>
#include <QHash>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Config;
using namespace Qt::StringLiterals;
using namespace std::chrono_literals;
using namespace ConfigTest;

namespace {

ValueType typeNamed(const QString &name)
{
    static const QHash<QString, ValueType> types{
        {u"string"_s, ValueType::String}, {u"int"_s, ValueType::Int},
        {u"float"_s, ValueType::Float},   {u"bool"_s, ValueType::Bool},
        {u"size"_s, ValueType::Size},     {u"duration"_s, ValueType::Duration},
        {u"list"_s, ValueType::List}};
    return types.value(name);
}

// The default of [s] k in the getters test, per type.
QString testDefault(const QString &type)
{
    static const QHash<QString, QString> defaults{
        {u"string"_s, u"default"_s}, {u"int"_s, u"-1"_s},  {u"float"_s, u"-1"_s},
        {u"bool"_s, u"yes"_s},       {u"size"_s, u"1K"_s}, {u"duration"_s, u"5ms"_s},
        {u"list"_s, u"default"_s}};
    return defaults.value(type);
}

} // namespace

class tst_Config : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parseInt_data();
    void parseInt();
    void parseFloat_data();
    void parseFloat();
    void parseBool_data();
    void parseBool();
    void boolLists();
    void parseSize_data();
    void parseSize();
    void parseDuration_data();
    void parseDuration();
    void parseList_data();
    void parseList();
    void expandUser();

    void getters_data();
    void getters();
    void getterReportsBadValueOnce();
    void getterNamesAreCaseInsensitive();
    void getPath_data();
    void getPath();

    void syntax_data();
    void syntax();
    void syntaxErrors_data();
    void syntaxErrors();
    void duplicateKeyLaterWins();
    void sectionsMergeAndKeepOrder();
    void rawLineSections();
    void environment_data();
    void environment();

    void diagnosticFormatting();
    void formatDiagnosticsOrdersByFile();
};

void tst_Config::parseInt_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("expected");
    QTest::newRow("zero") << u"0"_s << true << qint64(0);
    QTest::newRow("plain") << u"8080"_s << true << qint64(8080);
    QTest::newRow("spaces") << u"  42 "_s << true << qint64(42);
    QTest::newRow("plus") << u"+7"_s << true << qint64(7);
    QTest::newRow("negative") << u"-15"_s << true << qint64(-15);
    QTest::newRow("max") << u"9223372036854775807"_s << true << std::numeric_limits<qint64>::max();
    QTest::newRow("min") << u"-9223372036854775808"_s << true << std::numeric_limits<qint64>::min();
    QTest::newRow("overflow") << u"9223372036854775808"_s << false << qint64(0);
    QTest::newRow("huge") << u"99999999999999999999999"_s << false << qint64(0);
    QTest::newRow("empty") << QString() << false << qint64(0);
    QTest::newRow("sign only") << u"-"_s << false << qint64(0);
    QTest::newRow("float") << u"1.5"_s << false << qint64(0);
    QTest::newRow("hex") << u"0x10"_s << false << qint64(0);
    QTest::newRow("suffix") << u"10K"_s << false << qint64(0);
    QTest::newRow("inner space") << u"1 000"_s << false << qint64(0);
}

void tst_Config::parseInt()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(qint64, expected);
    const std::optional<qint64> value = Values::parseInt(text);
    QCOMPARE(value.has_value(), valid);
    if (valid)
        QCOMPARE(*value, expected);
}

void tst_Config::parseFloat_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<double>("expected");
    QTest::newRow("integer") << u"3"_s << true << 3.0;
    QTest::newRow("decimal") << u"0.25"_s << true << 0.25;
    QTest::newRow("leading dot") << u".5"_s << true << 0.5;
    QTest::newRow("negative") << u"-2.5"_s << true << -2.5;
    QTest::newRow("exponent") << u"1e3"_s << true << 1000.0;
    QTest::newRow("exponent sign") << u"2.5E-1"_s << true << 0.25;
    QTest::newRow("spaces") << u" 1.5 "_s << true << 1.5;
    QTest::newRow("inf") << u"inf"_s << false << 0.0;
    QTest::newRow("nan") << u"nan"_s << false << 0.0;
    QTest::newRow("overflow") << u"1e999"_s << false << 0.0;
    QTest::newRow("comma") << u"1,5"_s << false << 0.0;
    QTest::newRow("group separator") << u"1,000"_s << false << 0.0;
    QTest::newRow("bare exponent") << u"1e"_s << false << 0.0;
    QTest::newRow("dot only") << u"."_s << false << 0.0;
    QTest::newRow("word") << u"fast"_s << false << 0.0;
}

void tst_Config::parseFloat()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(double, expected);
    const std::optional<double> value = Values::parseFloat(text);
    QCOMPARE(value.has_value(), valid);
    if (valid)
        QCOMPARE(*value, expected);
}

void tst_Config::parseBool_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<bool>("expected");
    for (const char *t : {"true", "1", "yes", "on", "t", "y", "TRUE", "Yes", "ON", " y "})
        QTest::newRow(t) << QString::fromLatin1(t) << true << true;
    for (const char *f : {"false", "0", "no", "off", "f", "n", "False", "NO", "Off", "N"})
        QTest::newRow(f) << QString::fromLatin1(f) << true << false;
    for (const char *bad : {"", "2", "yess", "enabled", "nope", "-1", "o"})
        QTest::newRow(qPrintable(u"invalid '%1'"_s.arg(QLatin1String(bad))))
            << QString::fromLatin1(bad) << false << false;
}

void tst_Config::parseBool()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(bool, expected);
    const std::optional<bool> value = Values::parseBool(text);
    QCOMPARE(value.has_value(), valid);
    if (valid)
        QCOMPARE(*value, expected);
}

void tst_Config::boolLists()
{
    // brim's lists, in brim's order.
    QCOMPARE(Config::trueValues(),
             (QStringList{u"true"_s, u"1"_s, u"yes"_s, u"on"_s, u"t"_s, u"y"_s}));
    QCOMPARE(Config::falseValues(),
             (QStringList{u"false"_s, u"0"_s, u"no"_s, u"off"_s, u"f"_s, u"n"_s}));
}

void tst_Config::parseSize_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("expected");
    QTest::newRow("bytes") << u"512"_s << true << qint64(512);
    QTest::newRow("zero") << u"0"_s << true << qint64(0);
    QTest::newRow("bytes B") << u"512B"_s << true << qint64(512);
    QTest::newRow("K") << u"64K"_s << true << qint64(64 * 1024);
    QTest::newRow("k") << u"64k"_s << true << qint64(64 * 1024);
    QTest::newRow("KB") << u"64KB"_s << true << qint64(64 * 1024);
    QTest::newRow("kb") << u"64kb"_s << true << qint64(64 * 1024);
    QTest::newRow("M") << u"10M"_s << true << qint64(10) * 1024 * 1024;
    QTest::newRow("G") << u"1G"_s << true << (qint64(1) << 30);
    QTest::newRow("T") << u"2T"_s << true << (qint64(2) << 40);
    QTest::newRow("space before unit") << u"8 K"_s << true << qint64(8 * 1024);
    QTest::newRow("surrounding spaces") << u"  8K  "_s << true << qint64(8 * 1024);
    QTest::newRow("largest") << u"8388607T"_s << true << (qint64(8388607) << 40);
    QTest::newRow("overflow unit") << u"8388608T"_s << false << qint64(0);
    QTest::newRow("overflow digits") << u"99999999999999999999"_s << false << qint64(0);
    QTest::newRow("negative") << u"-1"_s << false << qint64(0);
    QTest::newRow("negative unit") << u"-1K"_s << false << qint64(0);
    QTest::newRow("decimal") << u"1.5M"_s << false << qint64(0);
    QTest::newRow("unit only") << u"K"_s << false << qint64(0);
    QTest::newRow("empty") << QString() << false << qint64(0);
    QTest::newRow("unknown unit") << u"8X"_s << false << qint64(0);
    QTest::newRow("two B") << u"8KBB"_s << false << qint64(0);
    QTest::newRow("KiB") << u"8KiB"_s << false << qint64(0);
}

void tst_Config::parseSize()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(qint64, expected);
    const std::optional<qint64> value = Values::parseSize(text);
    QCOMPARE(value.has_value(), valid);
    if (valid)
        QCOMPARE(*value, expected);
}

void tst_Config::parseDuration_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("milliseconds");
    QTest::newRow("seconds") << u"30s"_s << true << qint64(30000);
    QTest::newRow("minutes") << u"5m"_s << true << qint64(300000);
    QTest::newRow("milliseconds") << u"250ms"_s << true << qint64(250);
    QTest::newRow("hours") << u"1h"_s << true << qint64(3600000);
    QTest::newRow("days") << u"2d"_s << true << qint64(2 * 86400000LL);
    QTest::newRow("h+m") << u"1h30m"_s << true << qint64(5400000);
    QTest::newRow("m+s") << u"1m30s"_s << true << qint64(90000);
    QTest::newRow("s+ms") << u"2s500ms"_s << true << qint64(2500);
    QTest::newRow("spaced combo") << u"1h 30m"_s << true << qint64(5400000);
    QTest::newRow("space before unit") << u"30 s"_s << true << qint64(30000);
    QTest::newRow("bare") << u"45"_s << true << qint64(45000);
    QTest::newRow("zero") << u"0"_s << true << qint64(0);
    QTest::newRow("zero s") << u"0s"_s << true << qint64(0);
    QTest::newRow("decimal") << u"1.5s"_s << true << qint64(1500);
    QTest::newRow("bare decimal") << u"1.5"_s << true << qint64(1500);
    QTest::newRow("decimal h") << u"0.5h"_s << true << qint64(1800000);
    QTest::newRow("upper case") << u"30S"_s << true << qint64(30000);
    QTest::newRow("empty") << QString() << false << qint64(0);
    QTest::newRow("unknown unit") << u"3x"_s << false << qint64(0);
    QTest::newRow("negative") << u"-1s"_s << false << qint64(0);
    QTest::newRow("trailing bare number") << u"1h30"_s << false << qint64(0);
    QTest::newRow("unit only") << u"s"_s << false << qint64(0);
    QTest::newRow("dangling dot") << u"1.s"_s << false << qint64(0);
    QTest::newRow("exponent") << u"1e3s"_s << false << qint64(0);
    QTest::newRow("word") << u"forever"_s << false << qint64(0);
    QTest::newRow("overflow") << u"99999999999999d"_s << false << qint64(0);
}

void tst_Config::parseDuration()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(qint64, milliseconds);
    const std::optional<std::chrono::milliseconds> value = Values::parseDuration(text);
    QCOMPARE(value.has_value(), valid);
    if (valid)
        QCOMPARE(value->count(), milliseconds);
}

void tst_Config::parseList_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("spaces") << u"a b  c"_s << QStringList{u"a"_s, u"b"_s, u"c"_s};
    QTest::newRow("commas") << u"a,b , c"_s << QStringList{u"a"_s, u"b"_s, u"c"_s};
    QTest::newRow("quoted") << u"a.conf \"b c.conf\""_s << QStringList{u"a.conf"_s, u"b c.conf"_s};
    QTest::newRow("quoted comma") << u"\"x, y\",z"_s << QStringList{u"x, y"_s, u"z"_s};
    QTest::newRow("quote inside word") << u"a\"b c\"d e"_s << QStringList{u"ab cd"_s, u"e"_s};
    QTest::newRow("unterminated quote") << u"a \"b c"_s << QStringList{u"a"_s, u"b c"_s};
    QTest::newRow("empty quotes dropped") << u"a \"\" b"_s << QStringList{u"a"_s, u"b"_s};
    QTest::newRow("empty") << QString() << QStringList();
    QTest::newRow("separators only") << u" , ,"_s << QStringList();
    QTest::newRow("members") << u"127.0.0.1:5001, 127.0.0.1:5002"_s
                             << QStringList{u"127.0.0.1:5001"_s, u"127.0.0.1:5002"_s};
}

void tst_Config::parseList()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    QCOMPARE(Values::parseList(text), expected);
}

void tst_Config::expandUser()
{
    QTemporaryDir home;
    QVERIFY(home.isValid());
    EnvironmentOverride override("HOME", QFile::encodeName(home.path()));
    QCOMPARE(Values::expandUser(u"~"_s), home.path());
    QCOMPARE(Values::expandUser(u"~/x/y.conf"_s), home.path() + u"/x/y.conf"_s);
    QCOMPARE(Values::expandUser(u"x/~/y"_s), u"x/~/y"_s);
    QCOMPARE(Values::expandUser(u"/abs"_s), u"/abs"_s);
    QCOMPARE(Values::expandUser(u"~no_such_user_berth/x"_s), u"~no_such_user_berth/x"_s);
    // ~user uses the password database, not HOME.
    QCOMPARE(Values::expandUser(u"~root/x"_s), u"/root/x"_s);
}

void tst_Config::getters_data()
{
    // Each row is a one-key file; the getter must return the value, or the default plus one
    // error with the exact message.
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected"); // the result, rendered as text
    QTest::addColumn<QString>("error");    // empty when the value is valid

    QTest::newRow("string") << u"string"_s << u"hello world"_s << u"hello world"_s << QString();
    QTest::newRow("string keeps quotes")
        << u"string"_s << u"\"a ; b\""_s << u"\"a ; b\""_s << QString();
    QTest::newRow("int") << u"int"_s << u"8080"_s << u"8080"_s << QString();
    QTest::newRow("int bad") << u"int"_s << u"80x"_s << u"-1"_s
                             << u"t.conf:2: [s] k: '80x' is not an integer"_s;
    QTest::newRow("float") << u"float"_s << u"0.5"_s << u"0.5"_s << QString();
    QTest::newRow("float bad") << u"float"_s << u"half"_s << u"-1"_s
                               << u"t.conf:2: [s] k: 'half' is not a number"_s;
    QTest::newRow("bool") << u"bool"_s << u"Yes"_s << u"true"_s << QString();
    QTest::newRow("bool false") << u"bool"_s << u"off"_s << u"false"_s << QString();
    QTest::newRow("bool bad") << u"bool"_s << u"maybe"_s << u"true"_s
                              << u"t.conf:2: [s] k: 'maybe' is not a boolean"_s;
    QTest::newRow("size") << u"size"_s << u"64K"_s << u"65536"_s << QString();
    QTest::newRow("size bad") << u"size"_s << u"64Q"_s << u"1024"_s
                              << u"t.conf:2: [s] k: '64Q' is not a size"_s;
    QTest::newRow("size negative")
        << u"size"_s << u"-5"_s << u"1024"_s << u"t.conf:2: [s] k: '-5' is not a size"_s;
    QTest::newRow("duration") << u"duration"_s << u"1h30m"_s << u"5400000"_s << QString();
    QTest::newRow("duration bad") << u"duration"_s << u"3x"_s << u"5"_s
                                  << u"t.conf:2: [s] k: '3x' is not a duration"_s;
    QTest::newRow("list") << u"list"_s << u"a, \"b c\" d"_s << u"a|b c|d"_s << QString();
    QTest::newRow("list empty") << u"list"_s << u""_s << u""_s << QString();
}

void tst_Config::getters()
{
    QFETCH(QString, type);
    QFETCH(QString, value);
    QFETCH(QString, expected);
    QFETCH(QString, error);

    // A bad value yields the schema's default.
    const Schema schema = testSchema({keySpec(u"k"_s, typeNamed(type), testDefault(type))});
    Config config = Config::fromText(u"[s]\nk = "_s + value + u'\n', u"t.conf"_s);
    config.setSchema(&schema);
    QVERIFY2(config.diagnostics().isEmpty(),
             qPrintable(messages(config.diagnostics()).join(u'\n')));
    QString result;
    if (type == u"string"_s)
        result = config.getString(u"s"_s, u"k"_s);
    else if (type == u"int"_s)
        result = QString::number(config.getInt(u"s"_s, u"k"_s));
    else if (type == u"float"_s)
        result = QString::number(config.getFloat(u"s"_s, u"k"_s));
    else if (type == u"bool"_s)
        result = config.getBool(u"s"_s, u"k"_s) ? u"true"_s : u"false"_s;
    else if (type == u"size"_s)
        result = QString::number(config.getSize(u"s"_s, u"k"_s));
    else if (type == u"duration"_s)
        result = QString::number(config.getDuration(u"s"_s, u"k"_s).count());
    else if (type == u"list"_s)
        result = config.getList(u"s"_s, u"k"_s).join(u'|');
    QCOMPARE(result, expected);

    if (error.isEmpty()) {
        QCOMPARE(messages(config.diagnostics()), QStringList());
    } else {
        QCOMPARE(messages(config.diagnostics()), QStringList{error});
        QVERIFY(hasErrors(config.diagnostics()));
    }
}

void tst_Config::getterReportsBadValueOnce()
{
    const Config config = Config::fromText(u"[limits]\nheader_timeout = 3x\n"_s, u"a.conf"_s);
    // Both reads get the schema's default (10s) and one diagnostic is recorded.
    QCOMPARE(config.getDuration(u"limits"_s, u"header_timeout"_s), std::chrono::milliseconds(10s));
    QCOMPARE(config.getDuration(u"limits"_s, u"header_timeout"_s), std::chrono::milliseconds(10s));
    QCOMPARE(messages(config.diagnostics()),
             QStringList{u"a.conf:2: [limits] header_timeout: '3x' is not a duration"_s});
}

void tst_Config::getterNamesAreCaseInsensitive()
{
    const Config config = Config::fromText(u"[Server]\nPort = 81\n"_s);
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 81);
    QCOMPARE(config.getInt(u"SERVER"_s, u"PORT"_s), 81);
    QVERIFY(config.has(u"Server"_s, u"PoRt"_s));
    QVERIFY(!config.has(u"server"_s, u"ip"_s));
    QVERIFY(config.hasSection(u"server"_s));
    QCOMPARE(config.location(u"server"_s, u"port"_s).toString(), u"<text>:2"_s);
    QVERIFY(!config.location(u"server"_s, u"ip"_s).isValid());
}

void tst_Config::getPath_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected"); // %D = the config file's directory, %H = HOME
    QTest::newRow("absolute") << u"/var/log/berth"_s << u"/var/log/berth"_s;
    QTest::newRow("absolute cleaned") << u"/var//log/./berth/"_s << u"/var/log/berth"_s;
    QTest::newRow("relative") << u"static"_s << u"%D/static"_s;
    QTest::newRow("relative dot") << u"./a/../b"_s << u"%D/b"_s;
    QTest::newRow("parent") << u"../www"_s << u"%P/www"_s;
    QTest::newRow("tilde") << u"~/site"_s << u"%H/site"_s;
    QTest::newRow("quoted") << u"\"my site\""_s << u"%D/my site"_s;
}

void tst_Config::getPath()
{
    QFETCH(QString, value);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QTemporaryDir home;
    EnvironmentOverride override("HOME", QFile::encodeName(home.path()));
    const QString file =
        writeFile(dir.filePath(u"conf/berth.conf"_s), u"[app:files]\nroot = "_s + value + u'\n');
    const Config config = Config::load({file});
    QVERIFY(config.diagnostics().isEmpty());
    expected.replace(u"%D"_s, dir.filePath(u"conf"_s))
        .replace(u"%P"_s, dir.path())
        .replace(u"%H"_s, home.path());
    QCOMPARE(config.getPath(u"app:files"_s, u"root"_s), expected);
}

void tst_Config::syntax_data()
{
    // Text -> the parsed model rendered as "section|key=value" lines.
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("basic") << u"[server]\nport = 8080\nname=example\n"_s
                           << QStringList{u"server|port=8080"_s, u"server|name=example"_s};
    QTest::newRow("case and spaces")
        << u"[ SERVER ]\n  \nMax_Requests   =   5  \n"_s << QStringList{u"server|max_requests=5"_s};
    QTest::newRow("comment lines")
        << u"; top\n# top\n[s]\n; c\n  # indented\nk = v\n"_s << QStringList{u"s|k=v"_s};
    QTest::newRow("inline comment ;")
        << u"[s]\nworkers = 2   ; processes; 0 = single\n"_s << QStringList{u"s|workers=2"_s};
    QTest::newRow("inline comment #") << u"[s]\nk = v # note\n"_s << QStringList{u"s|k=v"_s};
    QTest::newRow("comment char without space")
        << u"[s]\ncolor = a#b;c\n"_s << QStringList{u"s|color=a#b;c"_s};
    QTest::newRow("empty value with comment")
        << u"[s]\nport =       ; unset\n"_s << QStringList{u"s|port="_s};
    QTest::newRow("quoted comment chars") << u"[s]\nrealm = \"API ; Gateway # 1\" ; c\n"_s
                                          << QStringList{u"s|realm=\"API ; Gateway # 1\""_s};
    QTest::newRow("equals in value") << u"[s]\nk = a=b\n"_s << QStringList{u"s|k=a=b"_s};
    QTest::newRow("colon is not a separator") << u"[s]\nk: v = w\n"_s << QStringList{u"s|k: v=w"_s};
    QTest::newRow("comment after header")
        << u"[limits]   ; safe defaults\nk = 1\n"_s << QStringList{u"limits|k=1"_s};
    QTest::newRow("crlf") << u"[s]\r\nk = v\r\n"_s << QStringList{u"s|k=v"_s};
    QTest::newRow("bom") << u"\uFEFF[s]\nk = v\n"_s << QStringList{u"s|k=v"_s};
    QTest::newRow("empty section") << u"[a]\n[b]\nk = v\n"_s << QStringList{u"b|k=v"_s};
    QTest::newRow("unicode") << u"[s]\nname = Bücher ☃\n"_s << QStringList{u"s|name=Bücher ☃"_s};
}

void tst_Config::syntax()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    const Config config = Config::fromText(text);
    QCOMPARE(messages(config.diagnostics()), QStringList());
    QStringList rendered;
    for (const QString &name : config.sectionNames()) {
        for (const Entry &entry : config.section(name)->entries)
            rendered.append(name + u'|' + entry.key + u'=' + entry.value);
    }
    QCOMPARE(rendered, expected);
}

void tst_Config::syntaxErrors_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("entry before section")
        << u"port = 1\nname = x\n[s]\nk = v\n"_s
        << QStringList{u"c.conf:1: expected a [section] header before this line"_s};
    QTest::newRow("no equals") << u"[server]\nport 8080\n"_s
                               << QStringList{u"c.conf:2: expected 'key = value'"_s};
    QTest::newRow("continuation") << u"[server]\nname = a\n  b\n"_s
                                  << QStringList{
                                         u"c.conf:3: continuation lines are not supported"_s};
    QTest::newRow("empty key") << u"[s]\n= v\n"_s
                               << QStringList{u"c.conf:2: expected a key before '='"_s};
    QTest::newRow("unclosed header")
        << u"[server\nport = 1\n[s]\nk\n"_s
        << QStringList{u"c.conf:1: expected ']' at the end of the section header"_s,
                       u"c.conf:4: expected 'key = value'"_s};
    QTest::newRow("empty header") << u"[ ]\nk = v\n"_s
                                  << QStringList{u"c.conf:1: empty section name"_s};
    QTest::newRow("text after header")
        << u"[server] port = 1\n"_s
        << QStringList{u"c.conf:1: unexpected text after the section header: 'port = 1'"_s};
}

void tst_Config::syntaxErrors()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    const Config config = Config::fromText(text, u"c.conf"_s);
    QCOMPARE(messages(config.diagnostics()), expected);
    QVERIFY(hasErrors(config.diagnostics()));
}

void tst_Config::duplicateKeyLaterWins()
{
    const Config config = Config::fromText(u"[server]\nport = 1\nport = 2\n"_s, u"d.conf"_s);
    QVERIFY(config.diagnostics().isEmpty());
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 2);
    QCOMPARE(config.location(u"server"_s, u"port"_s).toString(), u"d.conf:3"_s);
    QCOMPARE(config.section(u"server"_s)->entries.size(), 2);
}

void tst_Config::sectionsMergeAndKeepOrder()
{
    const Config config = Config::fromText(
        u"[server]\nport = 1\n[app:echo]\ncall = berth.echo\n[server]\nname = x\n[app:stats]\n"
        u"call = berth.stats\n[limits]\n"_s);
    QCOMPARE(config.sectionNames(),
             (QStringList{u"server"_s, u"app:echo"_s, u"app:stats"_s, u"limits"_s}));
    QCOMPARE(config.getInt(u"server"_s, u"port"_s), 1);
    QCOMPARE(config.getString(u"server"_s, u"name"_s), u"x"_s);
    QCOMPARE(config.section(u"server"_s)->location.line, 1);
    QStringList apps;
    for (const Section *s : config.sectionsWithPrefix(u"app:"_s))
        apps.append(s->name);
    QCOMPARE(apps, (QStringList{u"app:echo"_s, u"app:stats"_s}));
    QVERIFY(config.section(u"nothing"_s) == nullptr);
}

void tst_Config::rawLineSections()
{
    const QString text = u"[routes:line]\n"
                         u"; a comment\n"
                         u"/ = /var/www/static               ; a directory\n"
                         u"\n"
                         u"   /echo = echo   # trailing\n"
                         u"@ www.example.com example.com\n"
                         u"/q = \"a ; b\"\n"
                         u"[server]\nport = 1\n"
                         u"[routes:line]\n"
                         u"/users = @users\n"
                         u"[crontab:line]\n"
                         u"*/2 * * * * /home/apps/monitor.sh > /var/log/m.log 2>&1\n"_s;
    const Config config = Config::fromText(text, u"r.conf"_s);
    QCOMPARE(messages(config.diagnostics()), QStringList());
    const Section *routes = config.section(u"routes:line"_s);
    QVERIFY(routes);
    QVERIFY(routes->isRawLines());
    QVERIFY(routes->entries.isEmpty());
    QStringList lines;
    for (const RawLine &line : routes->lines)
        lines.append(line.location.toString() + u' ' + line.text);
    QCOMPARE(lines, (QStringList{u"r.conf:3 / = /var/www/static"_s, u"r.conf:5 /echo = echo"_s,
                                 u"r.conf:6 @ www.example.com example.com"_s,
                                 u"r.conf:7 /q = \"a ; b\""_s, u"r.conf:11 /users = @users"_s}));
    const Section *cron = config.section(u"crontab:line"_s);
    QVERIFY(cron);
    QCOMPARE(cron->lines.size(), 1);
    QCOMPARE(cron->lines.first().text,
             u"*/2 * * * * /home/apps/monitor.sh > /var/log/m.log 2>&1"_s);
    QVERIFY(!config.section(u"server"_s)->isRawLines());
}

void tst_Config::environment_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<QString>("error");
    QTest::newRow("set") << u"${BERTH_TEST_SET}"_s << u"hello"_s << QString();
    QTest::newRow("embedded") << u"/srv/${BERTH_TEST_SET}/www"_s << u"/srv/hello/www"_s
                              << QString();
    QTest::newRow("twice") << u"${BERTH_TEST_SET}-${BERTH_TEST_SET}"_s << u"hello-hello"_s
                           << QString();
    QTest::newRow("default unused") << u"${BERTH_TEST_SET:-x}"_s << u"hello"_s << QString();
    QTest::newRow("default when unset") << u"${BERTH_TEST_UNSET:-8080}"_s << u"8080"_s << QString();
    QTest::newRow("default when empty") << u"${BERTH_TEST_EMPTY:-x y}"_s << u"x y"_s << QString();
    QTest::newRow("empty default") << u"a${BERTH_TEST_UNSET:-}b"_s << u"ab"_s << QString();
    QTest::newRow("set but empty") << u"a${BERTH_TEST_EMPTY}b"_s << u"ab"_s << QString();
    QTest::newRow("dollar dollar") << u"$$HOME costs $$5"_s << u"$HOME costs $5"_s << QString();
    QTest::newRow("lone dollar") << u"a$b $"_s << u"a$b $"_s << QString();
    QTest::newRow("not a comment") << u"${BERTH_TEST_SEMI}"_s << u"a ; b"_s << QString();
    QTest::newRow("unset") << u"x${BERTH_TEST_UNSET}y"_s << u"xy"_s
                           << u"e.conf:2: environment variable 'BERTH_TEST_UNSET' is not set"_s;
    QTest::newRow("unterminated") << u"${BERTH_TEST_SET"_s << u"${BERTH_TEST_SET"_s
                                  << u"e.conf:2: unterminated '${' (missing '}')"_s;
    QTest::newRow("bad name") << u"${1BAD}"_s << QString()
                              << u"e.conf:2: invalid environment variable name '1BAD'"_s;
}

void tst_Config::environment()
{
    QFETCH(QString, value);
    QFETCH(QString, expected);
    QFETCH(QString, error);
    EnvironmentOverride set("BERTH_TEST_SET", "hello");
    EnvironmentOverride empty("BERTH_TEST_EMPTY", "");
    EnvironmentOverride semi("BERTH_TEST_SEMI", "a ; b");
    qunsetenv("BERTH_TEST_UNSET");

    const Config config = Config::fromText(
        u"[s]\nk = "_s + value + u"\n[routes:line]\n/ = "_s + value + u'\n', u"e.conf"_s);
    QCOMPARE(config.getString(u"s"_s, u"k"_s), expected);
    // Raw lines expand too.
    QCOMPARE(config.section(u"routes:line"_s)->lines.value(0).text, u"/ = "_s + expected);
    if (error.isEmpty()) {
        QCOMPARE(messages(config.diagnostics()), QStringList());
    } else {
        QString rawLineError = error;
        rawLineError.replace(u"e.conf:2:"_s, u"e.conf:4:"_s);
        QCOMPARE(messages(config.diagnostics()), (QStringList{error, rawLineError}));
    }
}

void tst_Config::diagnosticFormatting()
{
    const Diagnostic error{Diagnostic::Severity::Error, {u"a.conf"_s, 3}, u"bad"_s};
    const Diagnostic warning{Diagnostic::Severity::Warning, {u"a.conf"_s, 4}, u"odd"_s};
    const Diagnostic noLine{Diagnostic::Severity::Error, {u"a.conf"_s, 0}, u"gone"_s};
    const Diagnostic nowhere{Diagnostic::Severity::Warning, {}, u"hm"_s};
    QCOMPARE(error.toString(), u"a.conf:3: bad"_s);
    QCOMPARE(warning.toString(), u"a.conf:4: warning: odd"_s);
    QCOMPARE(noLine.toString(), u"a.conf: gone"_s);
    QCOMPARE(nowhere.toString(), u"<config>: warning: hm"_s);
    QVERIFY(hasErrors({warning, error}));
    QVERIFY(!hasErrors({warning, nowhere}));
    QVERIFY(!hasErrors({}));
}

void tst_Config::formatDiagnosticsOrdersByFile()
{
    const Diagnostics diagnostics{
        {Diagnostic::Severity::Error, {u"a.conf"_s, 9}, u"a9"_s},
        {Diagnostic::Severity::Warning, {u"b.conf"_s, 1}, u"b1"_s},
        {Diagnostic::Severity::Warning, {u"a.conf"_s, 2}, u"a2"_s},
        {Diagnostic::Severity::Error, {u"b.conf"_s, 1}, u"b1 again"_s},
        {Diagnostic::Severity::Error, {}, u"global"_s},
    };
    QCOMPARE(formatDiagnostics(diagnostics), u"<config>: global\n"
                                             u"a.conf:2: warning: a2\n"
                                             u"a.conf:9: a9\n"
                                             u"b.conf:1: warning: b1\n"
                                             u"b.conf:1: b1 again\n"_s);
    QCOMPARE(formatDiagnostics({}), QString());
}

QTEST_GUILESS_MAIN(tst_Config)
#include "tst_config.moc"
