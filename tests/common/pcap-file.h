/* Minimal pcap reading and writing for tests: LINKTYPE_RAW (101) only,
 * i.e. each record is one IP packet. */
#pragma once

#include <glib.h>

#define PCAP_LINKTYPE_RAW 101

/* Returns the packets of @path as GBytes, in order, or NULL with @error. */
GPtrArray *pcap_file_read (const char *path, GError **error);

typedef struct _PcapWriter PcapWriter;
PcapWriter *pcap_writer_open (const char *path, GError **error);
gboolean pcap_writer_add (PcapWriter *w, const guint8 *data, gsize len, gint64 usec);
gboolean pcap_writer_close (PcapWriter *w, GError **error);
