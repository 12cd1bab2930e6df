/* What the parts of FzGuiApp share: fz-gui-app.c (lifecycle, the menu,
 * the indicator, notifications), fz-gui-session.c (sign-in, the token,
 * connecting), fz-gui-actions.c (the menu's actions). */
#pragma once

#include "fz-gui-app.h"
#include "fz-sign-in.h"
#include "fz-tray-menu.h"
#include "fz-tunnel-client.h"

#include <libayatana-appindicator/app-indicator.h>

struct _FzGuiApp
{
  GtkApplication parent;
  GSettings *settings;
  FzTunnelClient *tunnel;
  AppIndicator *indicator;
  char *shown_menu; /* what the indicator shows (fz_tray_menu_dump) */
  GtkWidget *menu;  /* the GtkMenu the indicator has */
  guint refresh_idle;

  FzSignIn *sign_in;           /* a sign-in waiting for the browser */
  GCancellable *session_ops;   /* the token and Connect calls; sign-out cancels */
  GCancellable *startup_ops;   /* the first token lookup; shutdown cancels it */
  guint session_gen;           /* reset_ops() counts: what finishes later is dropped */
  gboolean token_checked;      /* the Secret Service was asked at start */
  gboolean token_stored;       /* and has a token, as far as we know */
  gboolean connect_pending;    /* our Connect has not answered yet */
  gboolean connect_abandoned;  /* and is to be taken back when it answers */
  gboolean taking_back;        /* its Disconnect is on its way */
  gboolean session_ours;       /* the running tunnel came from our Connect */
  gboolean announce_connected; /* say "Connected" once the service is */
  gboolean autoconnect_tried;
  gboolean quitting;
  char *last_state; /* the service's State we saw last */
  FzTunnelAvailability last_availability;

  gboolean tray_shown; /* a StatusNotifier host took our icon */
  guint tray_check;
  GtkWidget *problem;       /* the one dialog about the service */
  const char *problem_kind; /* \"no-service\", \"no-tray\", \"other\" */
  GtkWidget *settings_window;
};

/* fz-gui-app.c */
FzTrayPhase fz_gui_app_phase (FzGuiApp *self);
void fz_gui_app_refresh (FzGuiApp *self);
void fz_gui_app_notify (FzGuiApp *self, const char *id, const char *title,
                        const char *body, const char *action);
void fz_gui_app_show_call_error (FzGuiApp *self, const char *what, const GError *error);
void fz_gui_app_open_uri (FzGuiApp *self, const char *uri);

/* fz-gui-session.c */
void fz_gui_session_start (FzGuiApp *self);
void fz_gui_session_sign_in (FzGuiApp *self);
void fz_gui_session_cancel (FzGuiApp *self);
void fz_gui_session_sign_out (FzGuiApp *self);
void fz_gui_session_deep_link (FzGuiApp *self, const char *uri);
void fz_gui_session_service_changed (FzGuiApp *self);
void fz_gui_session_disconnected (FzGuiApp *self, const char *message,
                                  gboolean requires_sign_in);
void fz_gui_session_quit (FzGuiApp *self);

/* fz-gui-actions.c */
void fz_gui_actions_add (FzGuiApp *self);
