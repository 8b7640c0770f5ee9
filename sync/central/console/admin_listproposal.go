package console

import "net/http"

// listConfirm publishes the pending proposal of the form's list name and
// id: 403 four_eyes for its proposer, 409 watchlist_stale when another
// publish moved the version (as riskConfirm).
func (c *Console) listConfirm(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	if _, err := srv.ConfirmWatchlist(r.Context(), v.Actor(), r.PostFormValue("name"), r.PostFormValue("id")); err != nil {
		return opError(err)
	}
	return c.seeOther(w, r, "/console/lists", "msg.adm.list_published")
}

// listDecline drops the pending proposal of the form's list name and id,
// with the decliner's reason (required, as riskDecline's).
func (c *Console) listDecline(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	reason, err := requiredNote(r, "reason")
	if err != nil {
		return err
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	if err := srv.DeclineWatchlist(r.Context(), v.Actor(), r.PostFormValue("name"), r.PostFormValue("id"), reason); err != nil {
		return opError(err)
	}
	return c.seeOther(w, r, "/console/lists", "msg.adm.list_declined")
}
