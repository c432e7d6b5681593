"""PHP examples: Laravel Socialite (a small provider of its own) and league/oauth2-client."""

# Laravel, four files. Socialite's own providers send the secret in the form body; the class
# below sends it the way the app is registered (LARAVEL_BASIC or LARAVEL_POST).
LARAVEL_CONFIG = """<?php
// config/services.php: add this entry to the array the file returns.
// Tangsel SSO: %%APP_NAME%%

return [
    'tangsel' => [
        'client_id' => %%CLIENT_ID%%,
        'client_secret' => env('TANGSEL_CLIENT_SECRET'), // in .env, never in code
        'redirect' => %%REDIRECT_URI%%,
    ],
];
"""

LARAVEL_PROVIDER = """<?php
// app/Socialite/TangselProvider.php (composer require laravel/socialite)

namespace App\\Socialite;

use GuzzleHttp\\RequestOptions;
use Laravel\\Socialite\\Two\\AbstractProvider;
use Laravel\\Socialite\\Two\\User;

class TangselProvider extends AbstractProvider
{
    protected $scopes = %%SCOPES_ARRAY%%;

    protected $scopeSeparator = ' ';

    protected $usesPKCE = true; // S256, checked by Tangsel SSO

    protected function getAuthUrl($state)
    {
        return $this->buildAuthUrlFromBase(%%AUTHORIZATION_ENDPOINT%%, $state);
    }

    protected function getTokenUrl()
    {
        return %%TOKEN_ENDPOINT%%;
    }
%%TOKEN_AUTH%%
    protected function getUserByToken($token)
    {
        $response = $this->getHttpClient()->get(%%USERINFO_ENDPOINT%%, [
            RequestOptions::HEADERS => ['Authorization' => 'Bearer ' . $token],
        ]);

        return json_decode((string) $response->getBody(), true);
    }

    protected function mapUserToObject(array $user)
    {
        return (new User())->setRaw($user)->map([
            'id' => $user['sub'],
            'nickname' => $user['preferred_username'] ?? null,
            'name' => $user['name'] ?? null,
            'email' => $user['email'] ?? null,
        ]);
    }
}
"""

# For client_secret_basic: the secret in the Authorization header, not in the form body.
LARAVEL_BASIC = """
    // This app is registered with client_secret_basic: the secret goes in the Authorization
    // header (RFC 6749 §2.3.1), not in the form body as Socialite sends it by default.
    protected function getTokenHeaders($code)
    {
        $credentials = rawurlencode($this->clientId) . ':' . rawurlencode($this->clientSecret);

        return array_merge(parent::getTokenHeaders($code), [
            'Authorization' => 'Basic ' . base64_encode($credentials),
        ]);
    }

    protected function getTokenFields($code)
    {
        $fields = parent::getTokenFields($code);
        unset($fields['client_secret']);

        return $fields;
    }
"""

LARAVEL_POST = """
    // This app is registered with client_secret_post: Socialite's default (the secret in the
    // form body) is right.
"""

LARAVEL_SERVICE_PROVIDER = """<?php
// app/Providers/AppServiceProvider.php: register the "tangsel" driver.

namespace App\\Providers;

use App\\Socialite\\TangselProvider;
use Illuminate\\Support\\ServiceProvider;
use Laravel\\Socialite\\Facades\\Socialite;

class AppServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        Socialite::extend('tangsel', function ($app) {
            return Socialite::buildProvider(TangselProvider::class, config('services.tangsel'));
        });
    }
}
"""

LARAVEL_ROUTES = """<?php
// routes/web.php

use App\\Models\\User;
use Illuminate\\Support\\Facades\\Auth;
use Illuminate\\Support\\Facades\\Route;
use Laravel\\Socialite\\Facades\\Socialite;

Route::get('/login/tangsel', function () {
    return Socialite::driver('tangsel')->redirect();
});

// The redirect URI: Socialite checks the state and trades the code (with the PKCE verifier).
Route::get(%%REDIRECT_PATH%%, function () {
    $person = Socialite::driver('tangsel')->user();
    $user = User::updateOrCreate(
        ['tangsel_sub' => $person->getId()],
        ['name' => $person->getName() ?? '', 'email' => $person->getEmail()],
    );
    Auth::login($user);

    return redirect('/');
});
"""

LEAGUE_WEB = """<?php
// composer require league/oauth2-client
// Tangsel SSO: %%APP_NAME%%. One script at the redirect URI: without ?code it starts the
// login, with ?code it finishes it.

require __DIR__ . '/vendor/autoload.php';

%%LEAGUE_USES%%use League\\OAuth2\\Client\\Provider\\GenericProvider;

session_start();

$provider = new GenericProvider([
    'clientId' => %%CLIENT_ID%%,
    'clientSecret' => getenv('TANGSEL_CLIENT_SECRET'), // never in code
    'redirectUri' => %%REDIRECT_URI%%,
    'urlAuthorize' => %%AUTHORIZATION_ENDPOINT%%,
    'urlAccessToken' => %%TOKEN_ENDPOINT%%,
    'urlResourceOwnerDetails' => %%USERINFO_ENDPOINT%%,
    'scopes' => %%SCOPES_ARRAY%%,
    'scopeSeparator' => ' ',
    'pkceMethod' => GenericProvider::PKCE_METHOD_S256,
    'responseResourceOwnerId' => 'sub',
]%%LEAGUE_COLLABORATORS%%);

if (isset($_GET['error'])) {
    http_response_code(400);
    exit('Login did not complete: ' . htmlspecialchars((string) $_GET['error']));
}

if (!isset($_GET['code'])) {
    // 1. Send the person to Tangsel SSO; keep the state and the PKCE verifier.
    $url = $provider->getAuthorizationUrl();
    $_SESSION['tangsel_state'] = $provider->getState();
    $_SESSION['tangsel_pkce'] = $provider->getPkceCode();
    header('Location: ' . $url);
    exit;
}

// 2. Back at the redirect URI: check the state, then trade the code for tokens.
$expected = (string) ($_SESSION['tangsel_state'] ?? '');
unset($_SESSION['tangsel_state']);
if ($expected === '' || !hash_equals($expected, (string) ($_GET['state'] ?? ''))) {
    http_response_code(400);
    exit('Invalid state');
}
$provider->setPkceCode((string) ($_SESSION['tangsel_pkce'] ?? ''));
$token = $provider->getAccessToken('authorization_code', ['code' => (string) $_GET['code']]);
$person = $provider->getResourceOwner($token)->toArray(); // sub, name, email … (/userinfo)
$_SESSION['user'] = ['sub' => $person['sub'], 'name' => $person['name'] ?? ''];
header('Location: /');
"""

LEAGUE_MACHINE = """<?php
// composer require league/oauth2-client
// Tangsel SSO: %%APP_NAME%% (client credentials: the app acts for itself, for no person)

require __DIR__ . '/vendor/autoload.php';

%%LEAGUE_USES%%use League\\OAuth2\\Client\\Provider\\GenericProvider;

$provider = new GenericProvider([
    'clientId' => %%CLIENT_ID%%,
    'clientSecret' => getenv('TANGSEL_CLIENT_SECRET'), // never in code
    'urlAuthorize' => %%AUTHORIZATION_ENDPOINT%%,
    'urlAccessToken' => %%TOKEN_ENDPOINT%%,
    'urlResourceOwnerDetails' => %%USERINFO_ENDPOINT%%,
]%%LEAGUE_COLLABORATORS%%);

$token = $provider->getAccessToken('client_credentials');
echo $token->getToken(), PHP_EOL; // ask again after $token->getExpires()
"""

LEAGUE_BASIC_USES = "use League\\OAuth2\\Client\\OptionProvider\\HttpBasicAuthOptionProvider;\n"
LEAGUE_BASIC_COLLABORATORS = """, [
    // This app is registered with client_secret_basic: the secret goes in the Authorization header.
    'optionProvider' => new HttpBasicAuthOptionProvider(),
]"""
