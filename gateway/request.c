#include "gateway/request.h"

#include <stdint.h>

#include "scim/list.h"

json_t *gw_request_body_json(gw_request_t *r, scim_error_t *err)
{
    h2o_req_t *req = r->req;
    if (req->entity.base == NULL || req->entity.len == 0) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the request has no body");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                       jerr.text);
    return body;
}

void gw_request_query(gw_request_t *r, const char **query, size_t *len)
{
    h2o_req_t *req = r->req;
    *query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
    *len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
}

scim_select_t *gw_request_select(gw_request_t *r, scim_error_t *err)
{
    scim_list_params_t params;
    const char *query;
    size_t len;
    scim_select_t *sel = NULL;

    gw_request_query(r, &query, &len);
    if (scim_list_params_parse(query, len, &params, err) == 0)
        sel = scim_select_parse(params.attributes, params.excluded_attributes, err);
    scim_list_params_clear(&params);
    return sel;
}

void gw_request_run_list(gw_request_t *r, int search, void (*list)(gw_request_t *r, const scim_list_params_t *params))
{
    scim_list_params_t params = {0};
    scim_error_t err = {0};
    json_t *body = NULL;
    const char *query;
    size_t query_len;
    int rc;
    if (search) {
        body = gw_request_body_json(r, &err);
        rc = body != NULL ? scim_list_params_from_search(body, &params, &err) : -1;
    } else {
        gw_request_query(r, &query, &query_len);
        rc = scim_list_params_parse(query, query_len, &params, &err);
    }
    if (rc != 0)
        gw_respond_error(r, &err);
    else
        list(r, &params);
    scim_list_params_clear(&params);
    json_decref(body);
}

const char *gw_request_header(gw_request_t *r, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&r->req->headers, token, -1);
    return i == -1 ? NULL
                   : h2o_strdup(&r->req->pool, r->req->headers.entries[i].value.base, r->req->headers.entries[i].value.len).base;
}
