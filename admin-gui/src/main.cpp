// berth-admin: the desktop console for Berth servers (docs/console.md).
#include "configpage.h"
#include "mainwindow.h"
#include "servertab.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFile>
#include <QIcon>
#include <QSettings>
#include <QTabWidget>
#include <QTimer>

using namespace Berth::Console;
using namespace Qt::StringLiterals;

namespace {

// --screenshots DIR: after the data had time to arrive, grab each page of the first server tab
// into DIR/PAGE.png and quit (scripts/screenshots runs this under Xvfb).
void scheduleScreenshots(MainWindow *window, const QString &dir, int delayMs)
{
    QTimer::singleShot(delayMs, window, [window, dir] {
        QDir().mkpath(dir);
        auto *tab = qobject_cast<ServerTab *>(window->tabs()->currentWidget());
        if (!tab) {
            QCoreApplication::exit(2);
            return;
        }
        const QStringList names{u"dashboard"_s, u"processes"_s, u"logs"_s,
                                u"config"_s,    u"timeline"_s,  u"services"_s};
        for (int i = 0; i < names.size(); ++i) {
            tab->pages()->setCurrentIndex(i);
            QCoreApplication::processEvents();
            QCoreApplication::processEvents();
            window->grab().save(QDir(dir).filePath(names[i] + u".png"_s));
        }
        window->tabs()->setCurrentIndex(0); // the fleet overview
        QCoreApplication::processEvents();
        window->grab().save(QDir(dir).filePath(u"fleet.png"_s));
        QCoreApplication::exit(0);
    });
}

} // namespace

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(u"berth-admin"_s);
    QApplication::setOrganizationName(u"Berth"_s);
    QApplication::setApplicationVersion(QStringLiteral(BERTH_VERSION));
    QApplication::setWindowIcon(QIcon(u":/icons/berth-admin.svg"_s));

    QCommandLineParser parser;
    parser.setApplicationDescription(u"The desktop console for Berth servers."_s);
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption connect(u"connect"_s, u"Open the admin API at URL."_s, u"URL"_s);
    QCommandLineOption tokenFile(u"token-file"_s, u"Read the token for --connect from FILE."_s,
                                 u"FILE"_s);
    // Not --name: QGuiApplication takes -name/--name (X11 resource name) for itself.
    QCommandLineOption name(u"server-name"_s, u"Name of the --connect server."_s, u"NAME"_s);
    QCommandLineOption remember(u"remember"_s,
                                u"Add the --connect server to the server list (token in the "
                                u"keyring or the 0600 token file)."_s);
    QCommandLineOption run(u"run"_s, u"Start `berthd run -c FILE` and connect to it."_s, u"FILE"_s);
    QCommandLineOption berthd(u"berthd"_s, u"The berthd that --run and Open config file start."_s,
                              u"PATH"_s);
    QCommandLineOption screenshots(u"screenshots"_s, u"Write a PNG per page into DIR, then quit."_s,
                                   u"DIR"_s);
    QCommandLineOption delay(u"screenshot-delay"_s, u"Wait MS before the screenshots."_s, u"MS"_s,
                             u"20000"_s);
    QCommandLineOption page(u"page"_s, u"Show page N (1-6) first."_s, u"N"_s);
    parser.addOptions({connect, tokenFile, name, remember, run, berthd, screenshots, delay, page});
    parser.process(app);

    QSettings settings;
    if (parser.isSet(berthd))
        settings.setValue(u"berthd"_s, parser.value(berthd));
    TokenStore tokens;
    MainWindow window(&settings, &tokens);
    window.show();
    if (parser.isSet(connect)) {
        QString token;
        QFile file(parser.value(tokenFile));
        if (file.open(QIODevice::ReadOnly))
            token = QString::fromUtf8(file.readAll().simplified().split(' ').value(0));
        const QString serverName = parser.isSet(name) ? parser.value(name) : parser.value(connect);
        if (parser.isSet(remember))
            window.addServer({serverName, parser.value(connect)}, token);
        ServerTab *tab = window.openServer(serverName, parser.value(connect), token);
        if (parser.isSet(page))
            tab->pages()->setCurrentIndex(parser.value(page).toInt() - 1);
    } else if (parser.isSet(run)) {
        window.runLocal(parser.value(run));
    }
    if (parser.isSet(screenshots))
        scheduleScreenshots(&window, parser.value(screenshots), parser.value(delay).toInt());
    return app.exec();
}
