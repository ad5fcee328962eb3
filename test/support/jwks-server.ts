import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/** A local stand-in for an identity provider's JWKS endpoint (e.g. Clerk's), serving one RS256 public key. */
export interface JwksServer {
  url: string;
  issuer: string;
  kid: string;
  /** The public key as PEM, which an algorithm-confusion attack would use as an HS256 secret. */
  publicKeyPem: string;
  /** Signs an RS256 token with the served key (or `privateKey`, e.g. one the JWKS does not hold). */
  sign(claims: JWTPayload, options?: { privateKey?: CryptoKey; kid?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startJwksServer(issuer = 'https://clerk.tally.test'): Promise<JwksServer> {
  const kid = 'test-key-1';
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    kid,
    publicKeyPem: await exportSPKI(publicKey),
    sign: (claims, options = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? kid }).sign(options.privateKey ?? privateKey),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
