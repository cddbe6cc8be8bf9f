// An independent client of Portico: openid-client v6 (package-lock.json
// pins it) doing a code flow with PAR (RFC 9126), a signed request object
// (JAR, RFC 9101) and DPoP (RFC 9449), then userinfo with the DPoP-bound
// token. Everything OAuth is openid-client's public API; this script only
// wires it and reports. broker/oidcclient_test.go runs it (issue 25).
//
//   OIDC_CLIENT_JWK='{"kty":"EC",...,"d":"..."}' node fapi.mjs ISSUER CLIENT_ID REDIRECT_URI
//
// The client's private JWK (ES256) is in the environment, not argv, so it
// does not show in a process listing; it signs the client assertions
// (private_key_jwt) and the request object. The DPoP key is a fresh ES256
// pair of this run. Protocol:
//   stdout line 1: the authorization URL to send the browser to;
//   stdin line 1:  the URL the browser came back to (the callback);
//   stdout line 2: a JSON object with the results.
// On failure: exit 1 with a JSON object describing the error on stderr
// (openid-client's code, the server's error and status, the causes).
import * as client from 'openid-client'
import { createInterface } from 'node:readline'

const [issuer, clientId, redirectUri] = process.argv.slice(2)
if (!issuer || !clientId || !redirectUri || !process.env.OIDC_CLIENT_JWK) {
  console.error('usage: OIDC_CLIENT_JWK=<private JWK> node fapi.mjs ISSUER CLIENT_ID REDIRECT_URI')
  process.exit(2)
}

const b64url = (buf) => Buffer.from(buf).toString('base64url')

// The RFC 7638 thumbprint of an EC public key, to report which key the
// access token should be bound to (cnf.jkt, RFC 9449 §6.1).
async function ecThumbprint (publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey)
  const canonical = JSON.stringify({ crv, kty, x, y })
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical)))
}

// A JWT's payload, for the report only (openid-client has verified the
// id_token; the access token is the resource server's to verify).
function jwtPayload (token) {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString())
  } catch {
    return undefined
  }
}

function describe (err) {
  const d = { name: err?.name, message: err?.message, code: err?.code }
  for (const k of ['error', 'error_description', 'status']) if (err?.[k] !== undefined) d[k] = err[k]
  if (err?.response instanceof Response) d.status = err.response.status
  if (err?.cause !== undefined) d.cause = err.cause instanceof Error ? describe(err.cause) : err.cause
  return d
}

async function readLine () {
  const rl = createInterface({ input: process.stdin })
  for await (const line of rl) {
    rl.close()
    return line.trim()
  }
  throw new Error('stdin closed before the callback URL came')
}

async function main () {
  const jwk = JSON.parse(process.env.OIDC_CLIENT_JWK)
  const clientKey = {
    key: await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
    kid: jwk.kid
  }

  // The issuer is http://127.0.0.1:PORT in tests: allowInsecureRequests
  // lets openid-client talk plain HTTP, the discovery request included.
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt(clientKey),
    { execute: [client.allowInsecureRequests] }
  )

  const dpopKeys = await client.randomDPoPKeyPair('ES256')
  const DPoP = client.getDPoPHandle(config, dpopKeys)

  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const params = {
    redirect_uri: redirectUri,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce
  }
  // JAR then PAR: the signed request object is pushed (with a DPoP proof,
  // which binds the code to the key, RFC 9449 §10) and the browser gets
  // only client_id and request_uri.
  const { searchParams: signed } = await client.buildAuthorizationUrlWithJAR(config, params, clientKey)
  const authURL = await client.buildAuthorizationUrlWithPAR(config, signed, { DPoP })
  process.stdout.write(authURL.href + '\n')

  const callback = new URL(await readLine())
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP }
  )
  if (tokens.token_type !== 'dpop') {
    // oauth4webapi lower-cases token_type; anything else is not DPoP.
    throw new Error(`token_type ${tokens.token_type}, want DPoP`)
  }
  const claims = tokens.claims()
  // userinfo with a handle of its own over the same key: it holds none of
  // the nonces the token endpoint gave, so a server that requires them
  // answers the first proof with use_dpop_nonce in WWW-Authenticate
  // (RFC 9449 §9), which openid-client must follow.
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, {
    DPoP: client.getDPoPHandle(config, dpopKeys)
  })

  const result = {
    token_type: tokens.token_type,
    access_token_jkt: jwtPayload(tokens.access_token)?.cnf?.jkt ?? null,
    dpop_jkt: await ecThumbprint(dpopKeys.publicKey),
    id_token_sub: claims.sub,
    id_token_alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString()).alg,
    userinfo_sub: userinfo.sub,
    userinfo_email: userinfo.email ?? null
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => {
  console.error(JSON.stringify(describe(err)))
  process.exit(1)
})
