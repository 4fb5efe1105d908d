/*
 * store_archive.c -- which name a status file gets in done/ or failed/
 * (store.h, dcv_store_batch_status_arrive()).
 *
 * NAME.status is always the newest job of NAME: operators and scripts read
 * that name. A NAME submitted again while an older job's files lie there
 * does not replace them: the older job's files are renamed after its id
 * (NAME~HEX.status, NAME~HEX.<ext>) when the newer job arrives, and the
 * older job's later writes (withdrawn, weeks later) go to NAME~HEX.status.
 * Which job a NAME.status belongs to is read from the file itself, its
 * `job:` value, so that it holds across restarts and for jobs dcvd has
 * long forgotten.
 *
 * Runs on the batch's pool thread, before the status files are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "jobrec_int.h"
#include "store_int.h"

/* A status file is a few KiB; anything larger is not one of ours. */
#define STATUS_READ_MAX (256 * 1024)

/*
 * The `job:` value of the top-level mapping of the YAML in buf into id.
 * Returns true when found and it fits.
 */
static bool job_of_text(const unsigned char *buf, size_t len, char *id, size_t size)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0;
	bool key_next = true, want = false, found = false, done = false;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done && yaml_parser_parse(&parser, &ev)) {
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			/* A nested value is never the job id. */
			if (depth == 1)
				want = false, key_next = !key_next;
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			if (depth != 1)
				break;
			if (key_next) {
				want = ev.data.scalar.length == 3 &&
				       memcmp(ev.data.scalar.value, "job", 3) == 0;
			} else if (want) {
				if (ev.data.scalar.length < size) {
					memcpy(id, ev.data.scalar.value, ev.data.scalar.length);
					id[ev.data.scalar.length] = '\0';
					found = true;
				}
				done = true;
			}
			key_next = !key_next;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return found;
}

bool store_status_job_of(const struct store_dir *dir, const char *file, char *id, size_t size)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	bool found = false;
	int fd = openat(dir->fd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		goto out;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    dcv_read_fd(fd, STATUS_READ_MAX, &buf, &len, NULL) < 0)
		goto out;
	found = job_of_text(buf, len, id, size);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return found;
}

static bool present(const struct store_dir *dir, const char *file)
{
	struct stat sb;

	return fstatat(dir->fd, file, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Renames dir/NAME.<ext> to dir/OLD.<ext>, never over anything; true when moved or absent. */
static bool archive_one(struct store_dir *dir, const char *name, const char *old, const char *ext)
{
	char from[STORE_FILE_NAME_SIZE], to[STORE_FILE_NAME_SIZE];

	snprintf(from, sizeof(from), "%s.%s", name, ext);
	snprintf(to, sizeof(to), "%s.%s", old, ext);
	if (dcv_rename_noreplace(dir->fd, from, dir->fd, to) == 0) {
		dir->dirty = true;
		return true;
	}
	return errno == ENOENT;
}

void store_status_place(struct dcv_store *st, struct store_dir *dir, const char *name,
                        const char *id, bool arrival, char *out, size_t size)
{
	static const char *const exts[] = {"csr", "pem", "der", "yaml"};
	char file[STORE_FILE_NAME_SIZE], owner[DCV_JOB_ID_MAX + 1], own[STORE_FILE_NAME_SIZE];
	bool moved = true;

	(void)st;
	snprintf(out, size, "%s", name);
	snprintf(file, sizeof(file), "%s.status", name);
	if (!store_status_job_of(dir, file, owner, sizeof(owner))) {
		/*
		 * No NAME.status (or none of ours): NAME is free -- unless this
		 * job was archived earlier and only its NAME.status was lost.
		 */
		snprintf(own, sizeof(own), "%s.status", id);
		if (!arrival && present(dir, own))
			snprintf(out, size, "%s", id);
		return;
	}
	if (strcmp(owner, id) == 0)
		return;
	if (!arrival) {
		/* A newer job has NAME: this job's later writes go under its id. */
		snprintf(out, size, "%s", id);
		return;
	}
	/* The job arriving is the newest: the older one's files move aside. */
	if (dcv_jobrec_file_part_problem(owner, DCV_JOB_ID_MAX) != NULL) {
		snprintf(out, size, "%s", id);
		return;
	}
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		moved &= archive_one(dir, name, owner, exts[i]);
	moved &= archive_one(dir, name, owner, "status");
	if (!moved)
		/* Something of the older job could not move aside: never replace it. */
		snprintf(out, size, "%s", id);
}
