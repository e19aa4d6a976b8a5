/*
 * files.c - the files of the stores: directories, groups and modes shared
 * by the processes of the host (see files.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "files.h"

/* For the files of directory dir (or of the directory itself: its own
 * group is not taken as right). */
struct store_group
store_group_for(const struct mtasts_config *cfg, const char *dir)
{
	struct store_group g = {cfg->cache_group, false, false, 0, (gid_t)-1};
	struct stat st;

	/* a directory made by hand, without set-group-ID, is no guide */
	if (dir != NULL && stat(dir, &st) == 0 && (st.st_mode & S_ISGID))
		g.dir_gid = st.st_gid;
	return g;
}

static bool
group_id(struct store_group *g)
{
	const struct group *gr;

	if (!g->looked && g->name != NULL) {
		g->looked = true;
		if ((gr = getgrnam(g->name)) != NULL) {
			g->known = true;
			g->gid = gr->gr_gid;
		}
	}
	return g->known;
}

/*
 * Gives a file of a store the configured group and mode.  Failing is no
 * error: a process that does not own the file finds it as its owner set it
 * up.  A link is not followed (a member of the group may have put one
 * there for a root process to follow), and the file is not opened: closing
 * a descriptor of lock.mdb would drop the locks LMDB holds on it through
 * another, and the next process would take the environment for unused and
 * reset its lock table under the others.  A file already as it should be
 * costs one lstat (every Exim delivery opens the cache): the directory is
 * set-group-ID with the cache's group (store_make_dir), so a file of its
 * directory's group has the right one, and only another group is looked
 * up (getgrnam reads /etc/group: tens of microseconds in every process).
 */
void
store_own(const char *path, struct store_group *g, mode_t mode)
{
	struct stat st;
	uid_t me = geteuid();

	if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode) ||
	    (me != 0 && me != st.st_uid))
		return; /* nothing this process may change */
	if (st.st_gid != g->dir_gid && group_id(g) && g->gid != st.st_gid &&
	    lchown(path, (uid_t)-1, g->gid) == 0)
		lstat(path, &st); /* the set-group-ID bit may go with it */
	if ((st.st_mode & 07777) == mode)
		return;
	/* on a link: EOPNOTSUPP, nothing changed; where the system cannot
	 * do it (glibc needs /proc or fchmodat2), by name, not on a link */
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) != 0 &&
	    (errno == ENOSYS || errno == EOPNOTSUPP) &&
	    lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) &&
	    chmod(path, mode) != 0) {
		/* not the owner: as set up before */
	}
}

void
store_set_ownership(
    const struct mtasts_config *cfg, const char *path, mode_t mode)
{
	struct store_group g = store_group_for(cfg, NULL);

	store_own(path, &g, mode);
}

mode_t
store_dir_mode(unsigned file_mode)
{
	mode_t m = (mode_t)file_mode | S_ISGID;

	if (file_mode & 0040)
		m |= 0010;
	if (file_mode & 0004)
		m |= 0001;
	return m | 0700;
}

int
store_make_dir(
    const struct mtasts_config *cfg, const char *dir, struct mtasts_error *err)
{
	if (mkdir(dir, 0700) == 0)
		store_set_ownership(cfg, dir, store_dir_mode(cfg->cache_mode));
	else if (errno != EEXIST) {
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s: cannot create it: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

